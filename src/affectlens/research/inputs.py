"""Reading gold labels and predictions in the formats the benchmark tools meet.

Predictions come from three kinds of producers, so three readers feed one type:

* a CSV with ``name`` and ``openset`` (a label list) and/or ``label`` and/or ``sentiment``;
* an upstream ``*-openset.npz`` (``filenames``, ``fileitems``), as MER-UniBench stores them;
* affectlens' own JSON results (``Result.to_json()``), one clip per file or a folder of them.

Clip names are compared without folder and media extension, so ``sample_1.mp4`` in a gold
file matches a result whose ``media.path`` is ``/videos/sample_1.mp4``.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import ParameterError
from ..core.labels import VALENCE_AROUSAL
from .wheel import parse_label_list

logger = logging.getLogger(__name__)

#: Extensions stripped from clip names so media files, results and label rows line up.
MEDIA_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".wav", ".flac", ".mp3", ".m4a", ".ogg",
                  ".jpg", ".jpeg", ".png", ".json", ".srt", ".vtt", ".npy"}

NAME_COLUMNS = ("name", "file", "filename", "clip", "video")
OPENSET_COLUMNS = ("openset", "ov_labels", "ovlabels", "labels")
LABEL_COLUMNS = ("label", "emotion", "discrete", "pseu_emotion")
SENTIMENT_COLUMNS = ("sentiment", "valence")
TASKS = ("ov", "hit", "sentiment", "classes")


def clip_name(value: object) -> str:
    """A clip's key: the base name without a media extension (``a/b.mp4`` -> ``b``)."""
    text = str(value).strip().replace("\\", "/").rsplit("/", 1)[-1]
    suffix = Path(text).suffix.lower()
    return text[: -len(suffix)] if suffix in MEDIA_SUFFIXES else text


@dataclass(frozen=True)
class Prediction:
    """What a system said about one clip, in whichever forms it gave."""

    name: str
    labels: tuple[str, ...] = ()  # open-vocabulary words, best first
    label: str | None = None  # one discrete label
    sentiment: float | None = None  # signed valence

    def open_labels(self) -> list[str]:
        """The open-vocabulary list, falling back to the discrete label."""
        if self.labels:
            return list(self.labels)
        return [self.label] if self.label else []

    def single_label(self) -> str | None:
        return self.label if self.label else (self.labels[0] if self.labels else None)

    def sentiment_value(self) -> float:
        """Signed sentiment; derived from the discrete label's valence when none was given."""
        if self.sentiment is not None:
            return self.sentiment
        lab = (self.single_label() or "").lower()
        return VALENCE_AROUSAL.get(lab, (0.0, 0.0))[0]


def _pick(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    lower = {c.strip().lower(): c for c in columns}
    return next((lower[w] for w in wanted if w in lower), None)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, keep_default_na=False, dtype=str)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise ParameterError(f"cannot read CSV {path}: {e}") from e


def read_gold(path: str | Path, task: str) -> dict[str, object]:
    """Gold values per clip for ``task``: label lists (ov), labels (hit, classes) or floats (sentiment).

    Parameters
    ----------
    path : str or Path
        CSV with a name column (``name``/``file``) and, per task, ``openset`` (ov), ``label``
        or ``emotion`` (hit/classes; hit also accepts ``openset``), ``sentiment`` or
        ``valence`` (sentiment).
    task : {"ov", "hit", "sentiment", "classes"}
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"gold file {path} not found")
    frame = _read_csv(path)
    cols = list(frame.columns)
    name_col = _pick(cols, NAME_COLUMNS)
    wanted = {"ov": OPENSET_COLUMNS, "hit": LABEL_COLUMNS + OPENSET_COLUMNS,
              "classes": LABEL_COLUMNS, "sentiment": SENTIMENT_COLUMNS}.get(task)
    if wanted is None:
        raise ParameterError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    value_col = _pick(cols, wanted)
    if name_col is None or value_col is None:
        raise ParameterError(f"gold file {path} needs a name column ({'/'.join(NAME_COLUMNS)}) and one of "
                             f"{'/'.join(wanted)} for task {task!r}; it has {', '.join(cols)}")
    gold: dict[str, object] = {}
    for name, value in zip(frame[name_col], frame[value_col], strict=True):
        if str(value).strip() == "":
            continue
        if task == "ov" or (task == "hit" and value_col in OPENSET_COLUMNS):
            gold[clip_name(name)] = parse_label_list(value)
        elif task == "sentiment":
            gold[clip_name(name)] = value
        else:
            gold[clip_name(name)] = [str(value).strip()] if task == "hit" else str(value).strip()
    return gold


def _predictions_from_csv(path: Path) -> list[Prediction]:
    frame = _read_csv(path)
    cols = list(frame.columns)
    name_col = _pick(cols, NAME_COLUMNS)
    if name_col is None:
        raise ParameterError(f"prediction file {path} needs a name column ({'/'.join(NAME_COLUMNS)})")
    ov_col, lab_col, sen_col = (_pick(cols, w) for w in (OPENSET_COLUMNS, LABEL_COLUMNS, SENTIMENT_COLUMNS))
    if not (ov_col or lab_col or sen_col):
        raise ParameterError(f"prediction file {path} has none of the columns openset/label/sentiment")
    out = []
    for _, row in frame.iterrows():
        sentiment = None
        if sen_col and str(row[sen_col]).strip():
            try:
                sentiment = float(row[sen_col])
            except ValueError:
                sentiment = {"positive": 1.0, "negative": -1.0}.get(str(row[sen_col]).strip().lower(), 0.0)
        out.append(Prediction(
            name=clip_name(row[name_col]),
            labels=tuple(parse_label_list(row[ov_col])) if ov_col else (),
            label=(str(row[lab_col]).strip() or None) if lab_col else None,
            sentiment=sentiment,
        ))
    return out


def _predictions_from_npz(path: Path) -> list[Prediction]:
    try:
        data = np.load(path, allow_pickle=True)
        names, items = data["filenames"], data["fileitems"]
    except (OSError, ValueError, KeyError) as e:
        raise ParameterError(f"cannot read {path} as an openset npz (filenames, fileitems): {e}") from e
    return [Prediction(name=clip_name(n), labels=tuple(parse_label_list(i))) for n, i in zip(names, items, strict=True)]


#: Which open-vocabulary words of a result are scored: the fused ones, or the language model's.
WORD_SOURCES = ("fused", "llm")


def prediction_from_result(data: dict, fallback_name: str, words_from: str = "fused") -> Prediction:
    """Summarise one affectlens result (``Result.to_json()``) as a clip-level prediction.

    The clip label is the fused label with the most duration x confidence over utterances
    (neutral only if nothing else was said); sentiment is the duration-weighted mean fused
    valence. The open-vocabulary list is, with ``words_from="fused"``, every utterance's fused
    emotion words, best score first, then the clip label; with ``"llm"``, the words the
    language model proposed (``explanation.open_vocabulary``), most often proposed first, and
    nothing else: no clip label either, so a clip without proposed words scores as empty.
    """
    if words_from not in WORD_SOURCES:
        raise ParameterError(f"words must be one of {', '.join(WORD_SOURCES)}; got {words_from!r}")
    utterances = data.get("utterances") or []
    media = data.get("media") or {}
    name = clip_name(media.get("path") or fallback_name)
    votes: Counter[str] = Counter()
    words: dict[str, float] = {}
    valence_sum = weight_sum = 0.0
    for utt in utterances:
        fused = utt.get("fused") or {}
        seg = utt.get("segment") or {}
        duration = max(float(seg.get("end", 0.0)) - float(seg.get("start", 0.0)), 1e-3)
        label = fused.get("label")
        if not label or fused.get("no_evidence"):
            continue
        conf = float((fused.get("probs") or {}).get(label, 1.0))
        votes[label] += duration * conf
        for item in fused.get("emotion_words") or []:
            word, score = (item[0], float(item[1])) if isinstance(item, (list, tuple)) else (str(item), 0.0)
            words[word] = max(words.get(word, float("-inf")), score)
        valence = fused.get("valence")
        if valence is None:
            valence = VALENCE_AROUSAL.get(label, (0.0, 0.0))[0]
        valence_sum += duration * float(valence)
        weight_sum += duration
    emotional = Counter({k: v for k, v in votes.items() if k != "neutral"})
    clip_label = (emotional or votes).most_common(1)[0][0] if votes else None
    ranked = [w for w, _ in sorted(words.items(), key=lambda kv: -kv[1])]
    if clip_label and clip_label != "neutral" and clip_label not in ranked:
        ranked.append(clip_label)
    if words_from == "llm":
        proposed: Counter[str] = Counter()
        for utt in utterances:
            for w in (utt.get("explanation") or {}).get("open_vocabulary") or []:
                proposed[str(w).strip().lower()] += 1
        ranked = [w for w, _ in proposed.most_common() if w]
        clip_label = None  # no fallback to the fused label: the model's words are scored on their own
    return Prediction(name=name, labels=tuple(ranked), label=clip_label,
                      sentiment=valence_sum / weight_sum if weight_sum else None)


def _predictions_from_json(path: Path, words_from: str = "fused") -> list[Prediction]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ParameterError(f"cannot read {path} as JSON: {e}") from e
    if isinstance(data, list):  # several results in one file
        return [prediction_from_result(d, f"{path.stem}_{i}", words_from) for i, d in enumerate(data)]
    if not isinstance(data, dict) or "utterances" not in data:
        raise ParameterError(f"{path} is not an affectlens result (no 'utterances')")
    return [prediction_from_result(data, path.stem, words_from)]


def read_predictions(path: str | Path, words_from: str = "fused") -> dict[str, Prediction]:
    """Predictions per clip name from a CSV, an openset npz, an affectlens JSON, or a folder of JSONs.

    ``words_from`` picks the open-vocabulary words of affectlens JSON results (see
    :func:`prediction_from_result`); other formats carry only one list.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise ParameterError(f"prediction folder {path} holds no .json results")
        preds = [p for f in files for p in _predictions_from_json(f, words_from)]
    elif not path.is_file():
        raise ParameterError(f"prediction file {path} not found")
    elif path.suffix.lower() == ".csv":
        preds = _predictions_from_csv(path)
    elif path.suffix.lower() == ".npz":
        preds = _predictions_from_npz(path)
    elif path.suffix.lower() == ".json":
        preds = _predictions_from_json(path, words_from)
    else:
        raise ParameterError(f"predictions must be .csv, .npz, .json or a folder of .json; got {path.name}")
    out: dict[str, Prediction] = {}
    for p in preds:
        if p.name in out:
            logger.warning("clip %s predicted twice; keeping the last", p.name)
        out[p.name] = p
    return out
