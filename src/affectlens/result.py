"""The result of one analysis: typed utterances plus tables and a versioned JSON form.

JSON schema (``schema_version`` "2.0"; 2.0 replaced the explanation's ``rewritten_by`` with
``source`` and ``model``), top-level keys:

* ``schema_version``, ``affectlens_version``
* ``media``: :class:`~affectlens.core.types.MediaInfo` fields
* ``utterances``: list, one per segment, each with ``segment`` (index, start, end, source,
  text, speaker, words, language), ``evidence`` (modality -> available, probs, reliability,
  cues [modality, name, value, description, weight], reason, model, valence, emotion_words,
  speaker), ``fused`` (label, probs, valence, arousal, contributions, conflict,
  conflict_detail, emotion_words, no_evidence) and ``explanation`` (text, cues, source
  ["template" or "llm"], model, rejected, rejected_text, open_vocabulary; see
  :class:`~affectlens.core.types.Explanation`)
* ``frames``: list of per-face-per-frame records (see :meth:`Result.frames`)
* ``events``: micro-expressions (face_id, onset, apex, offset, aus, intensity)
* ``warnings``: what was repaired or skipped; ``timings``: seconds per stage; ``options``

All probabilities are over ``neutral, happy, sad, angry, fear, disgust, surprise``; times are
seconds from the start; AU intensities are 0..5 relative to the face's own neutral.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__
from .core.facetable import FRAME_COLUMNS, FaceTable
from .core.labels import LABELS
from .core.types import FaceObservation, MediaInfo, MicroExpression, Utterance, to_plain

if TYPE_CHECKING:  # pandas is imported when a table is asked for: it costs ~75 MB and 0.3 s
    import pandas as pd

SCHEMA_VERSION = "2.0"
MODALITY_ORDER = ("face", "voice", "words")
#: Stands in for the per-frame rows while the rest of the JSON is laid out (see write_json).
_FRAMES_SLOT = "\x00frames\x00"


@dataclass
class Result:
    """What affectlens concluded about one input.

    Attributes
    ----------
    media : MediaInfo
    utterances : list of Utterance
        One per segment, in time order.
    observations : sequence of FaceObservation
        One per face per analysed frame; from the pipeline a compact
        :class:`~affectlens.core.facetable.FaceTable` (a list works too).
    events : list of MicroExpression
    warnings : list of str
        Anything repaired or skipped (damaged packets, unparsable cues...).
    timings : dict
        Wall-clock seconds per stage.
    """

    media: MediaInfo
    utterances: list[Utterance]
    observations: Sequence[FaceObservation] = field(default_factory=list)
    events: list[MicroExpression] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def modalities(self) -> list[str]:
        names = {m for u in self.utterances for m in u.evidence}
        return [m for m in MODALITY_ORDER if m in names] + sorted(names - set(MODALITY_ORDER))

    def to_pandas(self) -> pd.DataFrame:
        """One row per utterance: times, text, fused label and probabilities, and for each
        modality its availability, reliability, contribution and probabilities
        (columns ``<modality>_<label>``)."""
        rows = []
        for u in self.utterances:
            s, f = u.segment, u.fused
            row: dict[str, Any] = {
                "utterance": s.index, "start": s.start, "end": s.end, "speaker": s.speaker,
                "text": s.text, "source": s.source, "label": f.label, "confidence": f.confidence,
                "valence": f.valence, "arousal": f.arousal, "conflict": f.conflict,
                "emotion_words": ", ".join(w for w, _ in f.emotion_words),
            }
            row.update({f"prob_{k}": f.probs.get(k, 0.0) for k in LABELS})
            for m in self.modalities:
                ev = u.evidence.get(m)
                row[f"{m}_available"] = bool(ev and ev.available)
                row[f"{m}_label"] = ev.label if ev else None
                row[f"{m}_reliability"] = ev.reliability if ev else 0.0
                row[f"{m}_contribution"] = f.contributions.get(m, 0.0)
                for k in LABELS:
                    row[f"{m}_{k}"] = ev.probs.get(k) if ev and ev.probs else None
            row["explanation"] = u.explanation.text
            row["explanation_source"] = u.explanation.source
            if u.explanation.model is not None:
                row["explanation_rejected"] = u.explanation.rejected
                row["llm_emotion_words"] = ", ".join(u.explanation.open_vocabulary)
            rows.append(row)
        import pandas as pd

        return pd.DataFrame(rows)

    def frames(self) -> pd.DataFrame:
        """One row per face per analysed frame: time, face id, box, pose, AU intensities
        (``AU01``..``AU45``) and expression probabilities (``expr_<label>``)."""
        if isinstance(self.observations, FaceTable):
            return self.observations.to_frame()
        rows = []
        for o in self.observations:
            x, y, w, h = o.box
            yaw, pitch, roll = o.head_pose
            row: dict[str, Any] = {
                "time": o.time, "frame_index": o.frame_index, "face_id": o.face_id,
                "x": x, "y": y, "width": w, "height": h, "score": o.detection_score,
                "yaw": yaw, "pitch": pitch, "roll": roll, "mouth_open": o.mouth_open,
            }
            row.update({au: v for au, v in sorted(o.aus.items())})
            row.update({f"expr_{k}": o.expression.get(k) for k in LABELS} if o.expression else {})
            rows.append(row)
        import pandas as pd

        return pd.DataFrame(rows, columns=None if rows else list(FRAME_COLUMNS))

    def to_dict(self, *, frames: bool = True) -> dict[str, Any]:
        """The JSON form as Python values (``frames=False`` leaves the per-frame rows out)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "affectlens_version": __version__,
            "media": to_plain(self.media),
            "utterances": [to_plain(u) for u in self.utterances],
            "frames": [to_plain(o) for o in self.observations] if frames else [],
            "events": [to_plain(e) for e in self.events],
            "warnings": list(self.warnings),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "options": to_plain(self.options),
        }

    def write_json(self, fh: TextIO, *, indent: int | None = 2) -> None:
        """Write the JSON form to ``fh``, the per-frame rows one at a time.

        Why: an hour of video has tens of thousands of rows; as one document in memory (dicts,
        then the text) they cost more than the whole analysis. The text is the same as
        ``json.dumps(self.to_dict(), indent=indent)``.
        """
        head = self.to_dict(frames=False)
        head["frames"] = _FRAMES_SLOT
        before, after = json.dumps(head, indent=indent, ensure_ascii=False).split(json.dumps(_FRAMES_SLOT), 1)
        fh.write(before)
        if not len(self.observations):
            fh.write("[]")
        else:
            pad = "\n" + " " * (2 * indent) if indent is not None else ""
            fh.write("[")
            for k, o in enumerate(self.observations):
                row = json.dumps(to_plain(o), indent=indent, ensure_ascii=False).replace("\n", pad)
                fh.write(((", " if indent is None else ",") if k else "") + pad + row)
            fh.write("\n" + " " * indent + "]" if indent is not None else "]")
        fh.write(after)

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 2) -> str:
        """The JSON form (schema above); also written to ``path`` when given."""
        buffer = io.StringIO()
        self.write_json(buffer, indent=indent)
        text = buffer.getvalue()
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def summary(self) -> str:
        """A few lines for a terminal."""
        lines = [f"{self.media.path}: {self.media.kind.value}, {self.media.duration:.1f} s, "
                 f"{len(self.utterances)} utterance(s)"]
        for u in self.utterances:
            s, f = u.segment, u.fused
            text = f' "{s.text[:50]}"' if s.text else ""
            flag = " [conflict]" if f.conflict else ""
            lines.append(f"  {s.start:7.2f}-{s.end:7.2f}  {f.label:<9} {f.confidence:4.0%}{flag}{text}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)
