"""One root error, a few specific kinds. The CLI turns any of them into a one-line message."""

from __future__ import annotations


class AffectlensError(Exception):
    """Root of every error affectlens raises on purpose."""


class MediaError(AffectlensError, ValueError):
    """The input cannot be read as media: missing, empty, corrupt, truncated or of a wrong format.

    The decoder's own message is kept (raised ``from`` the original) so users can report it.
    """


class SubtitleError(AffectlensError, ValueError):
    """A subtitle or transcript file cannot be parsed into utterances."""


class ModelError(AffectlensError, RuntimeError):
    """A model cannot be found, fails its checksum, or cannot be loaded."""


class ParameterError(AffectlensError, ValueError):
    """An option has a value outside what it accepts."""


#: Shared description of what ``analyze`` accepts, reused by error messages.
INPUT_DOC = (
    "a video (mp4, mov, mkv, webm, avi...), an audio file (wav, flac, mp3, m4a, ogg...), "
    "an image (jpg, png...), or a transcript (.srt, .vtt, or .csv with an 'utterance' column)"
)
