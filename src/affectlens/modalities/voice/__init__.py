"""Voice: speech emotion from whisper-base's middle layers plus speaker-relative prosody.

Importing this package registers :class:`VoiceModality` under the name ``"voice"``.
"""

from .modality import VoiceModality

__all__ = ["VoiceModality"]
