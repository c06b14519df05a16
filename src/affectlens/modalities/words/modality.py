"""The words modality: what each utterance's text says about the speaker's emotion."""

from __future__ import annotations

import logging

from ...core.labels import map_label
from ...core.types import Cue, Evidence
from ..base import AnalysisContext, Modality, register_modality
from .predict import TextPrediction, load_predictor, predict_texts, reliability

log = logging.getLogger(__name__)

#: How many attributed words become cues per segment.
MAX_CUES = 4
#: Smallest change of the predicted probability by the dialogue context that is worth a cue.
CONTEXT_CUE = 0.1


def _cues(pred: TextPrediction) -> tuple[Cue, ...]:
    unit = "probability" if pred.model.endswith("minilm") else "logit"
    cues = []
    for a in pred.attributions[:MAX_CUES]:
        cues.append(Cue(
            modality="words", name=f"word:{a.word}", value=round(a.weight, 4),
            description=f'"{a.word}" (points to {a.label})', weight=round(a.weight, 4),
        ))
    if pred.context_effect is not None and abs(pred.context_effect) >= CONTEXT_CUE:
        direction = "raised" if pred.context_effect > 0 else "lowered"
        cues.append(Cue(
            modality="words", name="context:dialogue", value=round(pred.context_effect, 4),
            description=f"the turns around it {direction} {pred.label} by {abs(pred.context_effect):.2f}",
            weight=round(pred.context_effect, 4),
        ))
    if cues:
        log.debug("words cues for %r in %s units: %s", pred.text, unit, [c.name for c in cues])
    return tuple(cues)


def to_evidence(index: int, pred: TextPrediction | None, speaker: str | None = None) -> Evidence:
    """One segment's :class:`Evidence` from a prediction (missing when there were no words)."""
    if pred is None:
        return Evidence.missing("words", index, "no words in this segment")
    caveat = None
    if pred.n_words <= 2:
        caveat = f"only {pred.n_words} word{'s' if pred.n_words != 1 else ''}: the text alone is ambiguous"
    return Evidence(
        modality="words", segment_index=index, available=True, probs=dict(pred.probs),
        reliability=reliability(pred.n_words, pred.model), cues=_cues(pred), reason=caveat, model=pred.model,
        valence=pred.valence, emotion_words=pred.emotion_words, speaker=speaker,
    )


@register_modality
class WordsModality(Modality):
    """Text emotion per segment, reading each utterance in its dialogue (the turns around it).

    Uses ``text-emotion-minilm`` (MiniLM via onnxruntime) and falls back to
    ``text-emotion-tfidf`` when the encoder's pip package is missing; ``Evidence.model`` says
    which ran. Reliability grows with the number of words (see
    :func:`affectlens.modalities.words.predict.reliability`); valence is VADER's compound
    score; ``emotion_words`` are the GoEmotions labels over their dev-tuned thresholds.

    Parameters
    ----------
    prefer : {"encoder", "tfidf"}, default="encoder"
        Which text model to try first.
    """

    name = "words"
    frame_rate = 0

    def __init__(self, *, prefer: str = "encoder") -> None:
        self.prefer = prefer

    def load(self, *, threads: int = 1) -> None:
        """The text model (MiniLM, or TF-IDF when the encoder's package is missing)."""
        load_predictor(self.prefer, threads)

    def evidence(self, context: AnalysisContext) -> list[Evidence]:
        segments = list(context.segments)
        readable = [s.text if _reads(s.language) else None for s in segments]
        preds = predict_texts(readable, [s.speaker for s in segments], [s.dialogue for s in segments], prefer=self.prefer,
                              threads=context.threads)
        out = []
        for i, (seg, pred) in enumerate(zip(segments, preds, strict=True)):
            if seg.text and not _reads(seg.language):
                out.append(Evidence.missing("words", i, f"speech recognised as '{seg.language}', and the text model "
                                                        "reads English; pass English subtitles"))
            else:
                out.append(to_evidence(i, pred, seg.speaker))
        return out


def _reads(language: str | None) -> bool:
    """The text models read English; a transcript recognised in another language is no evidence
    (and is not used as context either). Subtitles and text input carry no language: read."""
    return not language or language.startswith("en")


def shared_label(native: str) -> str:
    """MELD label -> shared label (re-exported for callers that show native labels)."""
    return map_label(native, "meld") or "neutral"
