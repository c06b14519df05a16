"""Plain-language explanations built only from measured cues.

Every sentence names the cue behind it (an action unit at the peak frame, pitch against the
speaker's baseline, the words that moved the text model). A modality without evidence says so
instead of being skipped silently, and a conflict between confident modalities is spelled out.
Nothing here invents a reason: if there is no cue, there is no claim.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..core.types import Cue, Evidence, Explanation, FusedPrediction, Segment

ORDER = ("face", "voice", "words")
NOUN = {"face": "Face", "voice": "Voice", "words": "Words"}


def _top_cues(ev: Evidence, limit: int = 3) -> list[Cue]:
    return sorted(ev.cues, key=lambda c: -abs(c.weight))[:limit] if ev.cues else []


def explain(segment: Segment, evidence: Mapping[str, Evidence], fused: FusedPrediction) -> Explanation:
    """Compose the explanation for one utterance from its evidence and fused prediction."""
    if fused.no_evidence:
        reasons = "; ".join(f"{n}: {ev.reason}" for n, ev in evidence.items() if ev.reason) or "nothing to analyse"
        return Explanation(text=f"No evidence in this segment ({reasons}).")
    sentences = [
        f"{fused.label.capitalize()} ({fused.confidence:.0%}), "
        f"valence {fused.valence:+.2f}, arousal {fused.arousal:+.2f}."
    ]
    cited: list[Cue] = []
    names = [n for n in ORDER if n in evidence] + [n for n in evidence if n not in ORDER]
    for name in names:
        ev = evidence[name]
        noun = NOUN.get(name, name.capitalize())
        if not ev.available:
            sentences.append(f"{noun}: no evidence ({ev.reason or 'unavailable'}).")
            continue
        share = fused.contributions.get(name, 0.0)
        cues = _top_cues(ev)
        cited.extend(cues)
        lead = f"{noun} ({share:.0%} of the decision) suggests {ev.label} ({ev.confidence:.0%})"
        if cues:
            sentences.append(f"{lead}: " + "; ".join(c.description for c in cues) + ".")
        else:
            sentences.append(f"{lead}.")
    if fused.conflict and fused.conflict_detail:
        sentences.append(f"The modalities disagree ({fused.conflict_detail}); the label follows the weighted vote.")
    return Explanation(text=" ".join(sentences), cues=tuple(cited))
