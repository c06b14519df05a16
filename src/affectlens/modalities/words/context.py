"""Conversation context the ERC way: what was said around an utterance, and by whom.

Emotion recognition in conversation (ERC) models read an utterance together with the turns
around it, because "Really?" is surprise after news and anger after an insult, and a speaker
change is itself a cue (replies carry reactions). Two ways are supported, and a model's card
says which it was trained with:

* :func:`dialogue_window` (the shipped model): each utterance is encoded alone, once, and a
  dialogue-context layer reads the embeddings of the turns before and after it, each tagged
  with its offset and whether the speaker is the same (:mod:`.dialogue`).
* :func:`build_context`: the previous turns as text, tagged ``same:`` / ``other:``, fed to the
  encoder as a second segment (older cards; it also gives the report its context string).

Context never crosses a dialogue boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: How many previous utterances the shipped encoder model was trained with.
DEFAULT_PREVIOUS = 2


def speaker_tag(previous: str | None, current: str | None) -> str:
    """``same`` when both speakers are known and equal, else ``other`` (unknown counts as other)."""
    return "same" if previous is not None and previous == current else "other"


def build_context(
    texts: Sequence[str],
    speakers: Sequence[str | None] | None = None,
    dialogues: Sequence[str | None] | None = None,
    *,
    previous: int = DEFAULT_PREVIOUS,
) -> list[str]:
    """For each utterance, its preceding turns as one string ("" for a dialogue's first turn).

    Parameters
    ----------
    texts : sequence of str
        Utterances in conversation order (empty strings are skipped as context).
    speakers : sequence of str or None, optional
        Speaker of each utterance; None means unknown.
    dialogues : sequence of str or None, optional
        Conversation id of each utterance. None everywhere means one conversation, which is
        what media input gives.
    previous : int, default=2
        How many preceding non-empty turns to include, oldest first.

    Returns
    -------
    list of str
        e.g. ``"other: You must've had your hands full. | same: Oh yeah."``
    """
    n = len(texts)
    speakers = list(speakers) if speakers is not None else [None] * n
    dialogues = list(dialogues) if dialogues is not None else [None] * n
    if len(speakers) != n or len(dialogues) != n:
        raise ValueError("texts, speakers and dialogues must have the same length")
    out: list[str] = []
    for i in range(n):
        turns: list[str] = []
        j = i - 1
        while j >= 0 and len(turns) < previous and dialogues[j] == dialogues[i]:
            if texts[j].strip():
                turns.append(f"{speaker_tag(speakers[j], speakers[i])}: {texts[j].strip()}")
            j -= 1
        out.append(" | ".join(reversed(turns)) if previous > 0 else "")
    return out


@dataclass(frozen=True)
class DialogueWindow:
    """For each utterance, which turns around it the dialogue-context layer may read.

    Slots are the offsets ``-previous .. -1`` then ``+1 .. +following`` (in turns of the same
    dialogue); ``index[i, s]`` is the row of the turn in slot ``s`` (0 where there is none, and
    then ``valid[i, s]`` is False), ``same[i, s]`` whether that turn's speaker is the current one
    (unknown speakers count as other, as in :func:`speaker_tag`).
    """

    index: np.ndarray  # [shape=(n, slots)] int64
    same: np.ndarray  # [shape=(n, slots)] bool
    valid: np.ndarray  # [shape=(n, slots)] bool
    offsets: tuple[int, ...]

    @property
    def relation(self) -> np.ndarray:
        """``[n, slots]`` index into the learned (offset, same speaker) table: ``2 * slot + same``."""
        return 2 * np.arange(len(self.offsets))[None, :] + self.same.astype(np.int64)

    def take(self, rows: Sequence[int] | np.ndarray) -> DialogueWindow:
        """The windows of ``rows`` only (still pointing into the full set of utterances)."""
        rows = np.asarray(rows, dtype=np.int64)
        return DialogueWindow(self.index[rows], self.same[rows], self.valid[rows], self.offsets)

    def previous_only(self) -> DialogueWindow:
        """The same window with the following turns hidden (what a live stream has)."""
        return DialogueWindow(self.index, self.same, self.valid & (np.array(self.offsets) < 0)[None, :], self.offsets)

    def empty(self) -> DialogueWindow:
        """Every slot hidden: each utterance read alone."""
        return DialogueWindow(self.index, self.same, np.zeros_like(self.valid), self.offsets)


def dialogue_window(
    n: int,
    speakers: Sequence[str | None] | None = None,
    dialogues: Sequence[str | None] | None = None,
    *,
    previous: int = 3,
    following: int = 1,
) -> DialogueWindow:
    """The turns each of ``n`` utterances (in conversation order) sees: ``previous`` before it and
    ``following`` after it, never across a dialogue boundary.

    Unlike :func:`build_context`, nothing is re-encoded: the encoder embeds every utterance once
    and the context layer reads the neighbours' embeddings, so an utterance costs one short
    encoder pass whatever the context size. ERC models on pre-extracted utterance features
    (DialogueRNN, AMuSE's per-speaker context) work the same way.
    """
    speakers = list(speakers) if speakers is not None else [None] * n
    dialogues = list(dialogues) if dialogues is not None else [None] * n
    if len(speakers) != n or len(dialogues) != n:
        raise ValueError("speakers and dialogues must have one entry per utterance")
    offsets = tuple(range(-previous, 0)) + tuple(range(1, following + 1))
    index = np.zeros((n, len(offsets)), dtype=np.int64)
    same = np.zeros((n, len(offsets)), dtype=bool)
    valid = np.zeros((n, len(offsets)), dtype=bool)
    for i in range(n):
        for s, off in enumerate(offsets):
            j = i + off
            if 0 <= j < n and dialogues[j] == dialogues[i]:
                index[i, s], valid[i, s] = j, True
                same[i, s] = speaker_tag(speakers[j], speakers[i]) == "same"
    return DialogueWindow(index, same, valid, offsets)
