"""Turn one analysed clip into an Emotion-LLaMA MERR fine-grained record and an instruction.

MERR (Emotion-LLaMA) describes each clip by the action units most present over the clip, the
AUs of its most expressive ("peak") frame, a phrase about the voice, the transcript, a
pseudo-label and a short reasoning caption. affectlens has all of these as measured cues, so a
record can be built from a :class:`~affectlens.result.Result` without a language model. The
record also carries an *agreement* score: how far the modalities, each on its own, point to
the clip's label. AffectGPT's MER-Caption kept only samples on which several models agreed;
``min_agreement`` plays that role here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..core.labels import LABELS
from ..core.types import MediaInfo, Utterance

#: FACS names, phrased as in MERR's ``visual_prior_list``.
AU_NAMES: dict[str, str] = {
    "AU01": "Inner Brow Raiser", "AU02": "Outer Brow Raiser", "AU04": "Brow Lowerer",
    "AU05": "Upper Lid Raiser", "AU06": "Cheek Raiser", "AU07": "Lid Tightener", "AU09": "Nose Wrinkler",
    "AU10": "Upper Lip Raiser", "AU11": "Nasolabial Deepener", "AU12": "Lip Corner Puller",
    "AU14": "Dimpler", "AU15": "Lip Corner Depressor", "AU16": "Lower Lip Depressor", "AU17": "Chin Raiser",
    "AU18": "Lip Pucker", "AU20": "Lip Stretcher", "AU22": "Lip Funneler", "AU23": "Lip Tightener",
    "AU24": "Lip Pressor", "AU25": "Lips Part", "AU26": "Jaw Drop", "AU27": "Mouth Stretch",
    "AU28": "Lip Suck", "AU43": "Eyes Closed", "AU45": "Blink",
}
#: How a voice label is said in MERR's ``audio_prior_list`` ("speaks in a fearful tone.").
TONE_WORDS: dict[str, str] = {
    "neutral": "normal", "happy": "cheerful", "sad": "sad", "angry": "angry", "fear": "fearful",
    "disgust": "disgusted", "surprise": "surprised",
}
#: Nouns for the caption ("... suggest sadness").
EMOTION_NOUNS: dict[str, str] = {
    "neutral": "a calm, neutral state", "happy": "happiness", "sad": "sadness", "angry": "anger",
    "fear": "fear or worry", "disgust": "disgust", "surprise": "surprise",
}
_AU_COLUMN = re.compile(r"^AU\d\d$")


class AnalyzedClip(Protocol):
    """What :func:`build_record` needs of an analysis result (``affectlens.Result`` has it)."""

    media: MediaInfo
    utterances: list[Utterance]

    def frames(self) -> pd.DataFrame: ...


@dataclass(frozen=True)
class RecordOptions:
    """Thresholds of the record builder.

    ``au_threshold`` is on the 0..5 intensity scale of :meth:`Result.frames`; an AU belongs to
    ``AU_list`` when its mean intensity over the main face's frames reaches it (at most
    ``max_aus``, strongest first), and to ``peak_AU_list`` when it reaches it in the peak frame.
    """

    au_threshold: float = 1.0
    max_aus: int = 3
    max_peak_aus: int = 6


@dataclass(frozen=True)
class ModalityVote:
    """One modality's clip-level opinion: its label and how sure it is."""

    modality: str
    label: str
    confidence: float


@dataclass(frozen=True)
class MerrRecord:
    """A MERR fine-grained record (field names and types as in ``MERR_fine_grained.json``) plus
    affectlens' agreement score and the per-modality votes it rests on.

    ``smp_reason_caption`` comes from :func:`reason_caption` (``caption_source="template"``) or
    from a language model whose caption passed the claim check (``"llm"``, see
    :mod:`affectlens.research.reasoning`). ``caption_model`` names the model asked,
    ``caption_status`` how that ended (accepted, rejected, failed, skipped) and
    ``caption_rejected`` why its caption was not used.
    """

    name: str
    AU_list: tuple[str, ...]
    visual_prior_list: tuple[str, ...]
    audio_prior_list: str
    peak_index: str
    peak_AU_list: tuple[str, ...]
    pseu_emotion: str
    text: str
    smp_reason_caption: str
    agreement: float
    confidence: float
    votes: tuple[ModalityVote, ...] = field(default_factory=tuple)
    peak_time: float | None = None
    caption_source: str = "template"
    caption_model: str | None = None
    caption_status: str | None = None
    caption_rejected: str | None = None
    caption_rejected_text: str | None = None

    def to_merr(self) -> dict[str, Any]:
        """JSON form: the eight MERR keys, then ``agreement``, ``confidence``, ``modalities``."""
        return {
            "AU_list": list(self.AU_list), "visual_prior_list": list(self.visual_prior_list),
            "audio_prior_list": self.audio_prior_list, "peak_index": self.peak_index,
            "peak_AU_list": list(self.peak_AU_list), "pseu_emotion": self.pseu_emotion, "text": self.text,
            "smp_reason_caption": self.smp_reason_caption,
            "agreement": round(self.agreement, 4), "confidence": round(self.confidence, 4),
            "peak_time": None if self.peak_time is None else round(self.peak_time, 3),
            "modalities": {v.modality: {"label": v.label, "confidence": round(v.confidence, 4)} for v in self.votes},
            "caption_source": self.caption_source, "caption_model": self.caption_model,
            "caption_status": self.caption_status, "caption_rejected": self.caption_rejected,
            "caption_rejected_text": self.caption_rejected_text,
        }

    @classmethod
    def from_merr(cls, name: str, data: Mapping[str, Any]) -> MerrRecord:
        """Inverse of :meth:`to_merr` (used to resume from a state file)."""
        votes = tuple(ModalityVote(m, v["label"], float(v["confidence"]))
                      for m, v in (data.get("modalities") or {}).items())
        return cls(name=name, AU_list=tuple(data["AU_list"]), visual_prior_list=tuple(data["visual_prior_list"]),
                   audio_prior_list=data["audio_prior_list"], peak_index=str(data["peak_index"]),
                   peak_AU_list=tuple(data["peak_AU_list"]), pseu_emotion=data["pseu_emotion"], text=data["text"],
                   smp_reason_caption=data["smp_reason_caption"], agreement=float(data.get("agreement", 0.0)),
                   confidence=float(data.get("confidence", 0.0)), votes=votes, peak_time=data.get("peak_time"),
                   caption_source=data.get("caption_source") or "template", caption_model=data.get("caption_model"),
                   caption_status=data.get("caption_status"), caption_rejected=data.get("caption_rejected"),
                   caption_rejected_text=data.get("caption_rejected_text"))

    def instruction(self, video: str | None = None) -> dict[str, Any]:
        """One instruction-tuning conversation (LLaVA / Emotion-LLaMA layout): cues in, label + reason out."""
        cues = []
        if self.visual_prior_list:
            cues.append("Facial action units over the clip: " + ", ".join(
                f"{n} ({a})" for a, n in zip(self.AU_list, self.visual_prior_list, strict=True)) + ".")
        if self.peak_AU_list:
            cues.append(f"At the most expressive frame ({self.peak_index}): " + ", ".join(self.peak_AU_list) + ".")
        if self.audio_prior_list:
            cues.append(f"Voice: the person {self.audio_prior_list}")
        if self.text:
            cues.append(f'Subtitle: "{self.text}"')
        prompt = ("<video>\n" + " ".join(cues) + "\nWhat emotion does the person feel? "
                  "Answer with one emotion label, then explain which cues support it.")
        answer = f"{self.pseu_emotion}. {self.smp_reason_caption}"
        return {"id": self.name, "video": video or self.name, "conversations": [
            {"from": "human", "value": prompt}, {"from": "gpt", "value": answer}]}


# ---------------------------------------------------------------------------- faces
def _main_face(frames: pd.DataFrame) -> pd.DataFrame:
    """Rows of the face seen in most frames: MERR describes one person per clip."""
    if frames.empty or "face_id" not in frames:
        return frames
    main = frames["face_id"].value_counts().idxmax()
    return frames[frames["face_id"] == main]


def _au_columns(frames: pd.DataFrame) -> list[str]:
    return sorted(c for c in frames.columns if _AU_COLUMN.match(str(c)))


def clip_aus(frames: pd.DataFrame, options: RecordOptions) -> list[str]:
    """AUs whose mean intensity over the clip reaches the threshold, strongest first, then by number."""
    cols = _au_columns(frames)
    if frames.empty or not cols:
        return []
    means = frames[cols].astype(float).mean(skipna=True)
    strong = means[means >= options.au_threshold].sort_values(ascending=False).head(options.max_aus)
    return sorted(strong.index)


def peak_frame(frames: pd.DataFrame) -> pd.Series | None:
    """The most expressive frame: highest non-neutral expression probability (AU sum when the
    expression classifier gave nothing), first such frame on ties."""
    if frames.empty:
        return None
    expr = [f"expr_{k}" for k in LABELS if k != "neutral" and f"expr_{k}" in frames]
    if expr and frames[expr].notna().any().any():
        score = frames[expr].astype(float).max(axis=1).fillna(-1.0)
    else:
        cols = _au_columns(frames)
        if not cols:
            return None
        score = frames[cols].astype(float).fillna(0.0).sum(axis=1)
    return frames.loc[score.idxmax()]


def peak_aus(row: pd.Series | None, options: RecordOptions) -> list[str]:
    if row is None:
        return []
    values = {c: float(row[c]) for c in row.index if _AU_COLUMN.match(str(c)) and pd.notna(row[c])}
    strong = sorted((c for c, v in values.items() if v >= options.au_threshold), key=lambda c: -values[c])
    return sorted(strong[: options.max_peak_aus])


# ---------------------------------------------------------------------------- votes
def _mean_probs(items: Sequence[tuple[float, Mapping[str, float]]]) -> dict[str, float] | None:
    total = sum(w for w, _ in items)
    if total <= 0:
        return None
    return {k: sum(w * p.get(k, 0.0) for w, p in items) / total for k in LABELS}


def clip_votes(utterances: Sequence[Utterance]) -> tuple[dict[str, float] | None, tuple[ModalityVote, ...]]:
    """Duration-weighted clip-level probabilities: fused, and per available modality.

    A modality's utterances are also weighted by its reliability, so a face seen in one
    blurry frame does not outvote a clear voice.
    """
    fused: list[tuple[float, Mapping[str, float]]] = []
    per_modality: dict[str, list[tuple[float, Mapping[str, float]]]] = {}
    for u in utterances:
        duration = max(u.segment.duration, 1e-3)
        if not u.fused.no_evidence and u.fused.probs:
            fused.append((duration, u.fused.probs))
        for name, ev in u.evidence.items():
            if ev.available and ev.probs:
                per_modality.setdefault(name, []).append((duration * max(ev.reliability, 1e-3), ev.probs))
    votes = []
    for name in sorted(per_modality):
        probs = _mean_probs(per_modality[name])
        if probs:
            label = max(probs, key=probs.__getitem__)
            votes.append(ModalityVote(name, label, probs[label]))
    return _mean_probs(fused), tuple(votes)


def agreement_score(label: str, votes: Sequence[ModalityVote]) -> float:
    """Confidence-weighted share of available modalities whose own label is ``label`` (0 if none)."""
    total = sum(v.confidence for v in votes)
    return 0.0 if total <= 0 else sum(v.confidence for v in votes if v.label == label) / total


# ---------------------------------------------------------------------------- phrases
def audio_phrase(votes: Sequence[ModalityVote]) -> str:
    """The voice's vote in MERR's phrasing ("speaks in a fearful tone.")."""
    voice = next((v for v in votes if v.modality == "voice"), None)
    if voice is None:
        return "does not speak audibly."
    return f"speaks in a {TONE_WORDS.get(voice.label, voice.label)} tone."


def reason_caption(label: str, aus: Sequence[str], audio: str, text: str,
                   votes: Sequence[ModalityVote], agreement: float) -> str:
    """A short reasoning paragraph that cites only measured cues (MERR's ``smp_reason_caption``)."""
    parts = []
    if aus:
        parts.append("In the video, the person's face shows " + ", ".join(
            f"{AU_NAMES.get(a, a).lower()} ({a})" for a in aus) + ".")
    else:
        parts.append("In the video, no clear facial action is visible.")
    if not audio.startswith("does not"):
        parts.append(f"The person {audio}")
    if text:
        words = next((v for v in votes if v.modality == "words"), None)
        said = f'The words "{text}"'
        parts.append(f"{said} read as {EMOTION_NOUNS.get(words.label, words.label)}." if words else f"{said} are spoken.")
    agreeing = [v.modality for v in votes if v.label == label]
    against = [f"{v.modality} ({v.label})" for v in votes if v.label != label]
    noun = EMOTION_NOUNS.get(label, label)
    if agreeing and not against:
        parts.append(f"Face, voice and words that were available ({', '.join(agreeing)}) all point to {noun}.")
    elif agreeing:
        verb = "points" if len(agreeing) == 1 else "point"
        parts.append(f"{', '.join(agreeing).capitalize()} {verb} to {noun}, while {', '.join(against)} "
                     f"disagree{'s' if len(against) == 1 else ''}; taken together the person most likely feels {noun}.")
    else:
        parts.append(f"No single cue is decisive, but combined they suggest {noun}.")
    parts[-1] += f" (modality agreement {agreement:.0%})"
    return " ".join(parts)


def build_record(name: str, result: AnalyzedClip, options: RecordOptions | None = None) -> MerrRecord:
    """Build the MERR record of one analysed clip.

    Parameters
    ----------
    name : str
        Record key (the clip's file name without extension).
    result : Result
        What ``affectlens.analyze`` returned for the clip (or anything with ``.utterances``,
        ``.media`` and ``.frames()``).
    options : RecordOptions, optional

    Returns
    -------
    MerrRecord
        ``pseu_emotion`` is the arg-max of the duration-weighted fused probabilities,
        ``unknown`` when no modality had evidence (agreement 0).
    """
    options = options or RecordOptions()
    frames = _main_face(result.frames())
    fused, votes = clip_votes(result.utterances)
    if fused is None:
        label, confidence = "unknown", 0.0
    else:
        label = max(fused, key=fused.__getitem__)
        confidence = fused[label]
    aus = clip_aus(frames, options)
    peak = peak_frame(frames)
    audio = audio_phrase(votes)
    text = " ".join(u.segment.text.strip() for u in result.utterances if u.segment.text and u.segment.text.strip())
    agreement = agreement_score(label, votes)
    return MerrRecord(
        name=name, AU_list=tuple(aus), visual_prior_list=tuple(AU_NAMES.get(a, a) for a in aus),
        audio_prior_list=audio,
        peak_index="" if peak is None else str(int(peak["frame_index"])),
        peak_AU_list=tuple(peak_aus(peak, options)), pseu_emotion=label, text=text,
        smp_reason_caption=reason_caption(label, aus, audio, text, votes, agreement),
        agreement=float(agreement), confidence=float(confidence), votes=votes,
        peak_time=None if peak is None else float(np.round(float(peak["time"]), 3)),
    )
