"""Emotion-wheel label normalisation, as MER-UniBench / OV-MER score open-vocabulary labels.

Free-form emotion words ("frustrating", "on edge", "cheerful") cannot be compared by string
equality: two annotators who agree use different words. OV-MER therefore maps every word
through three published lookup tables before comparing sets:

1. ``format.csv``: a surface form -> the base words it is an inflection of
   ("fears" -> fear, fearful, ...);
2. ``synonym.xlsx``: a base word -> the emotion-wheel words it is a synonym of (eight
   GPT-generated runs, merged by union);
3. ``wheelN.xlsx``: a wheel word -> its level-1 (or level-2) cluster in wheel ``N``.

Where a word reaches several wheel words, the alphabetically first one that is present in the
wheel decides, so the mapping is a deterministic function. A word that reaches nothing is
dropped. This follows the semantics of the upstream evaluation (zeroQiaoba/MERTools,
``my_affectgpt/evaluation/wheel.py``), re-implemented here.

Two versions of ``format.csv`` exist: ``2025`` (``format_2025.csv``, the one the published
tables used) lists "fear" among the forms of "fearless", so "fear" can land on "fearless";
``2026`` fixes that.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from ..core.data import dataset_path
from ..core.errors import ParameterError

logger = logging.getLogger(__name__)

#: The five wheels MER-UniBench averages over, in order.
WHEELS: tuple[str, ...] = ("wheel1", "wheel2", "wheel3", "wheel4", "wheel5")
#: Supported versions of ``format.csv`` -> file name.
FORMAT_FILES: dict[str, str] = {"2025": "format_2025.csv", "2026": "format.csv"}
#: Number of synonym runs in ``synonym.xlsx``.
SYNONYM_RUNS = 8

_SPLIT = re.compile(r"['\",]")


def parse_label_list(value: object) -> list[str]:
    """Parse a label list the way upstream does: ``"['a', "b", c]"`` -> ``['a', 'b', 'c']``.

    The text between the first ``[`` and the following ``]`` is split on quotes and commas and
    each item is stripped; without brackets the whole text is split. Lists and arrays pass
    through (their items stripped); ``None``/NaN/empty give ``[]``. Case is kept: scoring
    lower-cases.

    >>> parse_label_list("[happy, 'relieved', \\"grateful\\"]")
    ['happy', 'relieved', 'grateful']
    """
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    if hasattr(value, "tolist") and not isinstance(value, str):
        return parse_label_list(value.tolist())
    if isinstance(value, float) and value != value:  # NaN from pandas
        return []
    text = str(value)
    start = text.find("[")
    if start >= 0:
        end = text.find("]", start + 1)
        text = text[start + 1 : end if end >= 0 else len(text)]
    return [item.strip() for item in _SPLIT.split(text) if item.strip()]


@dataclass(frozen=True)
class WheelClusters:
    """One wheel at one level: wheel word -> the cluster it is scored as."""

    wheel: str
    level: int
    clusters: Mapping[str, str]


@dataclass(frozen=True)
class WheelLexicon:
    """The three lookup tables of one ``format.csv`` version, plus all wheel clusterings.

    Build it with :func:`load_lexicon`; it is immutable and cached per (root, version).
    """

    version: str
    forms: Mapping[str, tuple[str, ...]]  # surface form -> base words (format.csv)
    synonyms: Mapping[str, tuple[str, ...]]  # base word -> wheel words (synonym.xlsx)
    wheels: Mapping[tuple[str, int], WheelClusters]
    _cache: dict[tuple[str, str, int], str | None] = field(default_factory=dict, compare=False, repr=False)

    def candidates(self, label: str) -> tuple[str, ...]:
        """All wheel words ``label`` reaches through format -> synonym, sorted (may repeat)."""
        key = label.strip().lower()
        out: list[str] = []
        for base in self.forms.get(key, ()):
            out.extend(self.synonyms.get(base, ()))
        return tuple(sorted(out))

    def normalize(self, label: str, wheel: str = "wheel1", level: int = 1) -> str | None:
        """Map one free-form label onto its cluster in ``wheel`` at ``level`` (None: unmappable).

        >>> lex = load_lexicon(version="2025")  # doctest: +SKIP
        >>> lex.normalize("Cheerful", "wheel1", 1)  # doctest: +SKIP
        'happy'
        """
        key = (label.strip().lower(), wheel, level)
        if key in self._cache:
            return self._cache[key]
        clusters = self.clusters(wheel, level)
        result = next((clusters[w] for w in self.candidates(key[0]) if w in clusters), None)
        self._cache[key] = result
        return result

    def normalize_set(self, labels: Iterable[str], wheel: str = "wheel1", level: int = 1) -> set[str]:
        """Map a list of labels to the set of their clusters, dropping unmappable ones."""
        mapped = (self.normalize(lab, wheel, level) for lab in labels)
        return {m for m in mapped if m is not None}

    def clusters(self, wheel: str, level: int) -> Mapping[str, str]:
        try:
            return self.wheels[(wheel, level)].clusters
        except KeyError:
            raise ParameterError(
                f"unknown wheel/level {wheel!r}/{level}; wheels are {', '.join(WHEELS)} and levels 1 or 2"
            ) from None


def _read_wheel(path: Path) -> list[tuple[str, str, str]]:
    """Rows of a wheel sheet as (level1, level2, level3), blank cells filled from above."""
    frame = pd.read_excel(path)
    rows: list[tuple[str, str, str]] = []
    current = ["", "", ""]
    for values in frame[["level1", "level2", "level3"]].itertuples(index=False):
        for i, v in enumerate(values):
            if not pd.isna(v):
                current[i] = str(v)
        rows.append(tuple(c.strip().lower() for c in current))  # type: ignore[arg-type]
    return rows


def wheel_clusters(rows: list[tuple[str, str, str]], wheel: str, level: int) -> WheelClusters:
    """Cluster every word of a wheel to its level-1 or level-2 ancestor.

    Words that appear twice in a wheel take the cluster of their *last* occurrence, and at
    level 2 a level-1 word maps to its alphabetically first child, both as upstream does.
    """
    tree: dict[str, dict[str, list[str]]] = {}
    for l1, l2, l3 in rows:
        tree.setdefault(l1, {}).setdefault(l2, []).append(l3)
    out: dict[str, str] = {}
    for l1, children in tree.items():
        out[l1] = l1 if level == 1 else sorted(children)[0]
        for l2, leaves in children.items():
            out[l2] = l1 if level == 1 else l2
            for l3 in leaves:
                out[l3] = l1 if level == 1 else l2
    return WheelClusters(wheel=wheel, level=level, clusters=out)


def _read_forms(path: Path) -> dict[str, tuple[str, ...]]:
    frame = pd.read_csv(path, keep_default_na=False)
    forms: dict[str, list[str]] = {}
    for name, fmt in zip(frame["name"], frame["format"], strict=True):
        base = str(name).strip().lower()
        for form in [*parse_label_list(fmt), base]:
            forms.setdefault(form.strip().lower(), []).append(base)
    return {k: tuple(v) for k, v in forms.items()}


def _read_synonyms(path: Path) -> dict[str, tuple[str, ...]]:
    frame = pd.read_excel(path)
    merged: dict[str, set[str]] = {}
    for run in range(1, SYNONYM_RUNS + 1):
        for word, syns in zip(frame[f"word_run{run}"], frame[f"synonym_run{run}"], strict=True):
            raw = str(word).strip().lower()
            merged.setdefault(raw, set()).add(raw)
            for syn in parse_label_list(syns):
                merged.setdefault(syn.strip().lower(), set()).add(raw)
    return {k: tuple(sorted(v)) for k, v in merged.items()}


@lru_cache(maxsize=4)
def load_lexicon(root: str | Path | None = None, version: str = "2025") -> WheelLexicon:
    """Read the emotion-wheel resources of one ``format.csv`` version.

    Parameters
    ----------
    root : str or Path, optional
        Folder holding ``format*.csv``, ``synonym.xlsx`` and ``wheel1..5.xlsx``; defaults to
        ``<shared data>/eval/emotion_wheel``.
    version : {"2025", "2026"}, default="2025"
        ``2025`` reproduces published tables; ``2026`` fixes "fear" -> "fearless".
    """
    if version not in FORMAT_FILES:
        raise ParameterError(f"wheel version must be one of {', '.join(FORMAT_FILES)}; got {version!r}")
    base = Path(root) if root is not None else dataset_path("eval", "emotion_wheel")
    if not base.is_dir():
        raise ParameterError(f"emotion-wheel folder {base} not found")
    forms = _read_forms(base / FORMAT_FILES[version])
    synonyms = _read_synonyms(base / "synonym.xlsx")
    wheels: dict[tuple[str, int], WheelClusters] = {}
    for wheel in WHEELS:
        rows = _read_wheel(base / f"{wheel}.xlsx")
        for level in (1, 2):
            wheels[(wheel, level)] = wheel_clusters(rows, wheel, level)
    logger.debug("emotion wheel %s: %d forms, %d synonyms", version, len(forms), len(synonyms))
    return WheelLexicon(version=version, forms=forms, synonyms=synonyms, wheels=wheels)
