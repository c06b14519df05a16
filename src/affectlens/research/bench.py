"""One call from (gold file, prediction file, task) to a scored, printable report.

Kept apart from the CLI so benchmark scripts and tests score exactly what ``affectlens bench``
prints, without going through argparse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ParameterError
from ..core.labels import DATASET_MAPPINGS, map_label
from .inputs import TASKS, read_gold, read_predictions
from .metrics import (
    ClassScore,
    HitRate,
    OpenVocabScore,
    SentimentScore,
    class_score,
    hit_rate,
    open_vocab_score,
    sentiment_score,
)
from .wheel import WHEELS, load_lexicon

Score = OpenVocabScore | HitRate | SentimentScore | ClassScore


@dataclass(frozen=True)
class BenchReport:
    """A scored run: what was compared, how, and the result."""

    task: str
    gold: str
    pred: str
    wheel_version: str
    levels: tuple[int, ...]
    gold_samples: int
    predicted_samples: int
    score: Score

    def to_plain(self) -> dict[str, object]:
        return {
            "task": self.task, "gold": self.gold, "pred": self.pred, "wheel_version": self.wheel_version,
            "levels": list(self.levels), "gold_samples": self.gold_samples,
            "predicted_samples": self.predicted_samples, **self.score.to_plain(),
        }

    def markdown(self) -> str:
        """The result as a Markdown table (what the CLI prints)."""
        s = self.score
        if isinstance(s, OpenVocabScore):
            head = "| wheel | " + " | ".join(f"L{lv} F | L{lv} P | L{lv} R" for lv in self.levels) + " |"
            sep = "|---|" + "---|---|---|" * len(self.levels)
            rows = []
            for w in WHEELS:
                cells = []
                for lv in self.levels:
                    prf = s.get(w, lv)
                    cells += [f"{100 * prf.f:.2f}", f"{100 * prf.precision:.2f}", f"{100 * prf.recall:.2f}"]
                rows.append(f"| {w} | " + " | ".join(cells) + " |")
            mean = [f"{100 * v:.2f}" for lv in self.levels for v in s.mean(lv)]
            rows.append("| **mean** | " + " | ".join(mean) + " |")
            return "\n".join([head, sep, *rows])
        if isinstance(s, HitRate):
            rows = [f"| {w} | {100 * v:.2f} |" for w, v in s.per_wheel]
            return "\n".join(["| wheel | hit rate |", "|---|---|", *rows, f"| **mean** | {100 * s.mean:.2f} |"])
        if isinstance(s, SentimentScore):
            return (f"| metric | value |\n|---|---|\n| weighted F1 | {100 * s.weighted_f1:.2f} |\n"
                    f"| accuracy | {100 * s.accuracy:.2f} |\n| samples | {s.samples} |")
        head = "| gold \\ pred | " + " | ".join(s.labels) + " | F1 |"
        sep = "|---|" + "---|" * (len(s.labels) + 1)
        rows = [f"| {lab} | " + " | ".join(map(str, row)) + f" | {100 * f1:.2f} |"
                for lab, row, f1 in zip(s.labels, s.confusion, s.per_class_f1, strict=True)]
        summary = (f"\n\naccuracy {100 * s.accuracy:.2f}, weighted F1 {100 * s.weighted_f1:.2f}, "
                   f"macro F1 {100 * s.macro_f1:.2f} ({s.samples} samples)")
        return "\n".join([head, sep, *rows]) + summary


def _map_gold(gold: dict[str, object], dataset: str) -> dict[str, object]:
    if dataset not in DATASET_MAPPINGS:
        raise ParameterError(f"unknown gold dataset {dataset!r}; known: {', '.join(sorted(DATASET_MAPPINGS))}")
    out: dict[str, object] = {}
    for name, label in gold.items():
        try:
            mapped = map_label(str(label), dataset)
        except KeyError as e:
            raise ParameterError(f"gold label {label!r} of {name} is not a {dataset} label") from e
        if mapped is not None:
            out[name] = mapped
    return out


def run_bench(gold: str | Path, pred: str | Path, task: str = "ov", wheel_version: str = "2025",
              levels: tuple[int, ...] = (1, 2), wheel_root: str | Path | None = None,
              gold_dataset: str | None = None, words_from: str = "fused") -> BenchReport:
    """Score the predictions in ``pred`` against ``gold`` for ``task``.

    Parameters
    ----------
    gold, pred : str or Path
        See :func:`~affectlens.research.inputs.read_gold` and
        :func:`~affectlens.research.inputs.read_predictions`.
    task : {"ov", "hit", "sentiment", "classes"}, default="ov"
    wheel_version : {"2025", "2026"}, default="2025"
        Which ``format.csv``; 2025 reproduces the published OV-MER tables.
    levels : tuple of int, default=(1, 2)
        Wheel levels to score (``ov``); ``hit`` uses the first.
    wheel_root : str or Path, optional
        Folder of the emotion-wheel files; default ``<shared data>/eval/emotion_wheel``.
    gold_dataset : str, optional
        For ``classes``: map gold labels through this dataset's mapping onto affectlens'
        labels first (e.g. ``mer2023``: worried -> fear), dropping labels with no counterpart,
        so native gold labels can be compared with affectlens output.
    words_from : {"fused", "llm"}, default="fused"
        For affectlens JSON predictions: score the fused open-vocabulary words, or the words
        the language model proposed (``explanation.open_vocabulary``).
    """
    if task not in TASKS:
        raise ParameterError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    if not levels or any(lv not in (1, 2) for lv in levels):
        raise ParameterError(f"levels must be 1 and/or 2; got {levels}")
    if words_from != "fused" and task not in ("ov", "hit"):
        raise ParameterError("--words applies to the open-vocabulary tasks (ov, hit) only")
    gold_values = read_gold(gold, task)
    if not gold_values:
        raise ParameterError(f"gold file {gold} holds no labelled sample for task {task!r}")
    if gold_dataset is not None:
        if task != "classes":
            raise ParameterError("--gold-dataset applies to the classes task only")
        gold_values = _map_gold(gold_values, gold_dataset)
    preds = read_predictions(pred, words_from)
    if not set(gold_values) & set(preds):
        raise ParameterError(f"no clip name is shared by {gold} and {pred}; check the name columns")
    score: Score
    if task in ("ov", "hit"):
        lexicon = load_lexicon(wheel_root, wheel_version)
        pred_lists = {n: p.open_labels() for n, p in preds.items()}
        if task == "ov":
            score = open_vocab_score(gold_values, pred_lists, lexicon, levels)  # type: ignore[arg-type]
        else:
            score = hit_rate(gold_values, pred_lists, lexicon, levels[0])  # type: ignore[arg-type]
    elif task == "sentiment":
        score = sentiment_score(gold_values, {n: p.sentiment_value() for n, p in preds.items()})
    else:
        labels = {n: lab for n, p in preds.items() if (lab := p.single_label()) is not None}
        score = class_score(gold_values, labels)  # type: ignore[arg-type]
    return BenchReport(task=task, gold=str(gold), pred=str(pred), wheel_version=wheel_version, levels=tuple(levels),
                       gold_samples=len(gold_values), predicted_samples=len(set(gold_values) & set(preds)),
                       score=score)
