"""The scores MER-UniBench reports: open-vocabulary F, basic-emotion hit rate, sentiment, classes.

Every function takes plain ``name -> labels`` mappings (see :mod:`affectlens.research.inputs`)
and returns a frozen dataclass, so a CLI, a benchmark script and a test all read the same
numbers. Scores are fractions in [0, 1]; :meth:`to_plain` methods report them in percent, as
the papers do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from ..core.errors import ParameterError
from .wheel import WHEELS, WheelLexicon, parse_label_list

logger = logging.getLogger(__name__)

LabelLists = Mapping[str, Sequence[str]]


def _pct(x: float) -> float:
    return round(100.0 * float(x), 4)


def f_score(precision: float, recall: float) -> float:
    """Harmonic mean of precision and recall (0 when both are 0)."""
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class PRF:
    """Sample-averaged precision and recall of one wheel at one level, and their F."""

    precision: float
    recall: float
    samples: int  # samples scored (gold mapped to something)

    @property
    def f(self) -> float:
        return f_score(self.precision, self.recall)

    def to_plain(self) -> dict[str, float | int]:
        return {"f": _pct(self.f), "precision": _pct(self.precision), "recall": _pct(self.recall),
                "samples": self.samples}


@dataclass(frozen=True)
class WheelScore:
    """One wheel's result at one level."""

    wheel: str
    level: int
    prf: PRF


@dataclass(frozen=True)
class OpenVocabScore:
    """OV-MERD scores: per wheel and level, plus the mean over the five wheels.

    The mean F is the mean of the per-wheel F scores (not the F of mean P and R), as upstream.
    """

    scores: tuple[WheelScore, ...]
    missing: tuple[str, ...] = ()  # gold names with no prediction (scored as empty)

    def get(self, wheel: str, level: int) -> PRF:
        for s in self.scores:
            if s.wheel == wheel and s.level == level:
                return s.prf
        raise KeyError(f"{wheel}/level{level} was not scored")

    def levels(self) -> tuple[int, ...]:
        return tuple(sorted({s.level for s in self.scores}))

    def mean(self, level: int) -> tuple[float, float, float]:
        """Mean (F, precision, recall) over the wheels at ``level``."""
        rows = [(s.prf.f, s.prf.precision, s.prf.recall) for s in self.scores if s.level == level]
        f, p, r = np.mean(rows, axis=0)
        return float(f), float(p), float(r)

    def to_plain(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for wheel in WHEELS:
            per = {f"level{s.level}": s.prf.to_plain() for s in self.scores if s.wheel == wheel}
            if per:
                out[wheel] = per
        out["mean"] = {
            f"level{lv}": dict(zip(("f", "precision", "recall"), map(_pct, self.mean(lv)), strict=True))
            for lv in self.levels()
        }
        out["missing_predictions"] = len(self.missing)
        return out


def open_vocab_prf(gold: LabelLists, pred: LabelLists, lexicon: WheelLexicon, wheel: str, level: int) -> PRF:
    """Sample-averaged precision |G∩P|/|P| and recall |G∩P|/|G| on wheel-mapped label sets.

    Samples whose gold labels map to nothing are skipped; an empty (or missing) prediction
    scores precision 0 and recall 0.
    """
    precision: list[float] = []
    recall: list[float] = []
    for name, gold_labels in gold.items():
        g = lexicon.normalize_set(gold_labels, wheel, level)
        if not g:
            continue
        p = lexicon.normalize_set(pred.get(name, ()), wheel, level)
        hit = len(g & p)
        precision.append(hit / len(p) if p else 0.0)
        recall.append(hit / len(g) if p else 0.0)
    if not precision:
        raise ParameterError("no gold sample maps onto the emotion wheel; nothing to score")
    return PRF(precision=float(np.mean(precision)), recall=float(np.mean(recall)), samples=len(precision))


def open_vocab_score(gold: LabelLists, pred: LabelLists, lexicon: WheelLexicon,
                     levels: Sequence[int] = (1, 2)) -> OpenVocabScore:
    """Score open-vocabulary predictions on all five wheels at each of ``levels``."""
    scores = tuple(WheelScore(w, lv, open_vocab_prf(gold, pred, lexicon, w, lv)) for lv in levels for w in WHEELS)
    missing = tuple(sorted(n for n in gold if n not in pred))
    if missing:
        logger.warning("%d gold samples have no prediction; scored as empty", len(missing))
    return OpenVocabScore(scores=scores, missing=missing)


@dataclass(frozen=True)
class HitRate:
    """Basic-emotion hit rate: is the (mapped) gold label among the (mapped) predicted ones."""

    per_wheel: tuple[tuple[str, float], ...]
    samples: int  # non-neutral samples scored on wheel1

    @property
    def mean(self) -> float:
        return float(np.mean([v for _, v in self.per_wheel]))

    def to_plain(self) -> dict[str, object]:
        out: dict[str, object] = {w: {"hit_rate": _pct(v)} for w, v in self.per_wheel}
        out["mean"] = {"hit_rate": _pct(self.mean)}
        out["samples"] = self.samples
        return out


def hit_rate(gold: LabelLists, pred: LabelLists, lexicon: WheelLexicon, level: int = 1) -> HitRate:
    """Hit rate per wheel at ``level`` (level 1 in MER-UniBench), averaged over samples.

    Gold labels that map to nothing (``neutral``) are excluded, so this measures how often an
    open-vocabulary answer names the right basic emotion.
    """
    per_wheel: list[tuple[str, float]] = []
    counts: list[int] = []
    for wheel in WHEELS:
        hits: list[int] = []
        for name, gold_labels in gold.items():
            g = lexicon.normalize_set(gold_labels, wheel, level)
            if not g:
                continue
            p = lexicon.normalize_set(pred.get(name, ()), wheel, level)
            hits.append(int(bool(g & p)))
        if not hits:
            raise ParameterError("no gold label maps onto the emotion wheel (all neutral?); nothing to score")
        per_wheel.append((wheel, float(np.mean(hits))))
        counts.append(len(hits))
    return HitRate(per_wheel=tuple(per_wheel), samples=counts[0])


@dataclass(frozen=True)
class SentimentScore:
    """Positive-vs-negative agreement; gold 0 (neutral) excluded, as MER-UniBench does."""

    weighted_f1: float
    accuracy: float
    samples: int

    def to_plain(self) -> dict[str, float | int]:
        return {"weighted_f1": _pct(self.weighted_f1), "accuracy": _pct(self.accuracy), "samples": self.samples}


_POSITIVE = {"positive", "pos", "happy", "joy"}
_NEGATIVE = {"negative", "neg", "sad", "angry", "anger", "fear", "disgust", "sadness", "worried"}


def sentiment_value(value: object) -> float:
    """A gold or predicted sentiment as a number: a float, or a word (positive/negative/neutral)."""
    if isinstance(value, (int, float, np.number)):
        return float(value)
    text = str(value).strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    if text in _POSITIVE:
        return 1.0
    if text in _NEGATIVE:
        return -1.0
    return 0.0


def sentiment_score(gold: Mapping[str, object], pred: Mapping[str, object]) -> SentimentScore:
    """Weighted F1 and accuracy of ``> 0`` (positive) versus not, on samples with non-zero gold.

    A missing prediction counts as 0, i.e. as "not positive", like upstream's fallback.
    """
    names = [n for n, v in gold.items() if sentiment_value(v) != 0]
    if not names:
        raise ParameterError("every gold sentiment is 0 (neutral); nothing to score")
    y_true = np.array([sentiment_value(gold[n]) > 0 for n in names])
    y_pred = np.array([sentiment_value(pred.get(n, 0.0)) > 0 for n in names])
    return SentimentScore(weighted_f1=float(f1_score(y_true, y_pred, average="weighted")),
                          accuracy=float(accuracy_score(y_true, y_pred)), samples=len(names))


@dataclass(frozen=True)
class ClassScore:
    """Single-label classification metrics."""

    accuracy: float
    weighted_f1: float
    macro_f1: float
    labels: tuple[str, ...]
    per_class_f1: tuple[float, ...]
    confusion: tuple[tuple[int, ...], ...]  # rows: gold, columns: predicted, in ``labels`` order
    samples: int

    def to_plain(self) -> dict[str, object]:
        return {
            "accuracy": _pct(self.accuracy), "weighted_f1": _pct(self.weighted_f1), "macro_f1": _pct(self.macro_f1),
            "per_class_f1": {lab: _pct(v) for lab, v in zip(self.labels, self.per_class_f1, strict=True)},
            "labels": list(self.labels), "confusion": [list(r) for r in self.confusion], "samples": self.samples,
        }


def class_score(gold: Mapping[str, str], pred: Mapping[str, str]) -> ClassScore:
    """Accuracy, weighted/macro F1, per-class F1 and confusion matrix over gold names.

    Labels are compared lower-cased; a missing prediction counts as the label ``<none>``,
    which is always wrong.
    """
    if not gold:
        raise ParameterError("the gold file holds no samples")
    names = list(gold)
    y_true = [str(gold[n]).strip().lower() for n in names]
    y_pred = [str(pred[n]).strip().lower() if n in pred else "<none>" for n in names]
    labels = tuple(sorted(set(y_true) | set(y_pred)))
    gold_labels = sorted(set(y_true))
    per_class = f1_score(y_true, y_pred, labels=list(labels), average=None, zero_division=0)
    return ClassScore(
        accuracy=float(accuracy_score(y_true, y_pred)),
        weighted_f1=float(f1_score(y_true, y_pred, labels=gold_labels, average="weighted", zero_division=0)),
        macro_f1=float(f1_score(y_true, y_pred, labels=gold_labels, average="macro", zero_division=0)),
        labels=labels,
        per_class_f1=tuple(float(v) for v in per_class),
        confusion=tuple(tuple(int(x) for x in row) for row in confusion_matrix(y_true, y_pred, labels=list(labels))),
        samples=len(names),
    )


def as_label_lists(values: Mapping[str, object]) -> dict[str, list[str]]:
    """``name -> raw cell`` to ``name -> parsed label list`` (see :func:`parse_label_list`)."""
    return {name: parse_label_list(v) for name, v in values.items()}
