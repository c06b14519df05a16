"""Conversation context the ERC way: what was said just before, and by whom.

Emotion recognition in conversation (ERC) models read an utterance together with the turns
that precede it, because "Really?" is surprise after news and anger after an insult. The
encoder gets the previous utterances of the *same dialogue* as a second segment, each tagged
with whether the speaker is the same person or someone else (a speaker change is itself a
cue: replies carry reactions). Context never crosses a dialogue boundary.
"""

from __future__ import annotations

from collections.abc import Sequence

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
