"""Readers for the text corpora the words models are trained and measured on.

Used by ``training/words_*.py``, ``benchmarks/words_*.py`` and the data tests only; nothing at
run time reads a corpus. Paths come from :func:`affectlens.core.data.dataset_path`, so the data
never has to sit inside the repository.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...core.data import dataset_path

#: MELD's native emotion labels, in the order every MELD head of this package uses.
MELD_EMOTIONS: tuple[str, ...] = ("neutral", "joy", "sadness", "anger", "fear", "disgust", "surprise")
#: MELD's sentiment labels, in head order.
MELD_SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
_MELD_FILES = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}


def _clean(text: str) -> str:
    # MELD's CSVs carry mojibake of typographic quotes in some releases and curly quotes in
    # others; both are normalised to ASCII so that "don't" and "don’t" are one word.
    for bad, good in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"'),
                      ("\u0092", "'"), ("\u0085", "..."), ("\u0097", "-"), ("\u2026", "...")):
        text = text.replace(bad, good)
    return " ".join(text.split())


def normalise_text(text: str | None) -> str:
    """The one text normalisation both training and run time apply (quotes to ASCII, spaces)."""
    return "" if text is None else _clean(str(text))


@dataclass(frozen=True)
class MeldSplit:
    """One MELD split in conversation order: aligned lists, one entry per utterance."""

    name: str
    texts: list[str]
    speakers: list[str]
    dialogues: list[str]
    emotions: np.ndarray  # [shape=(n,)] int index into MELD_EMOTIONS
    sentiments: np.ndarray  # [shape=(n,)] int index into MELD_SENTIMENTS

    def __len__(self) -> int:
        return len(self.texts)


def load_meld(split: str) -> MeldSplit:
    """Read MELD ``train`` / ``dev`` / ``test`` sorted by dialogue and utterance id."""
    if split not in _MELD_FILES:
        raise ValueError(f"The 'split' parameter of load_meld must be one of {sorted(_MELD_FILES)}. Got {split!r} instead.")
    import pandas as pd  # only the training and benchmark readers need it

    df = pd.read_csv(dataset_path("text", "meld", _MELD_FILES[split]))
    df = df.sort_values(["Dialogue_ID", "Utterance_ID"], kind="stable").reset_index(drop=True)
    return MeldSplit(
        name=split,
        texts=[normalise_text(t) for t in df["Utterance"]],
        speakers=[str(s) for s in df["Speaker"]],
        dialogues=[f"{split}-{d}" for d in df["Dialogue_ID"]],
        emotions=np.array([MELD_EMOTIONS.index(e) for e in df["Emotion"]]),
        sentiments=np.array([MELD_SENTIMENTS.index(s) for s in df["Sentiment"]]),
    )


def goemotions_labels() -> tuple[str, ...]:
    """The 28 GoEmotions labels (27 emotions + neutral) in the dataset's index order."""
    path = dataset_path("text", "goemotions", "original", "labels.txt")
    return tuple(line.strip() for line in path.read_text().splitlines() if line.strip())


def load_goemotions(split: str) -> tuple[list[str], np.ndarray]:
    """GoEmotions ``train`` / ``dev`` / ``test``: texts and a multi-hot ``[n, 28]`` uint8 matrix."""
    path = dataset_path("text", "goemotions", "original", f"{split}.tsv")
    import pandas as pd

    df = pd.read_csv(path, sep="\t", header=None, names=["text", "labels", "id"], quoting=3, dtype=str)
    n_labels = len(goemotions_labels())
    y = np.zeros((len(df), n_labels), dtype=np.uint8)
    for i, labels in enumerate(df["labels"]):
        for j in str(labels).split(","):
            y[i, int(j)] = 1
    return [normalise_text(t) for t in df["text"]], y
