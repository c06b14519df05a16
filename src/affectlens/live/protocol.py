"""The ``/v1/live`` wire format, shared by the server, the Python client and the web page.

Client -> server:

* text ``{"type": "start", "asr": true, "language": null, "modalities": ["face", "voice", "words"]}`` first;
* binary ``b"F" + <float64 LE stream time> + JPEG bytes``: one video frame (5-10 per second);
* binary ``b"A" + <float64 LE stream time> + int16 LE PCM``: 16 kHz mono audio;
* text ``{"type": "stop", "save": true}``: end (``save`` keeps the session as a normal job result).

Server -> client (text, JSON): ``ready``; ``frame`` (faces with AUs and the fused label, per
frame, with the frame's time ``t``); ``voice``; ``words``; ``utterance``; ``stats``; ``saved``
(with the job id); ``error``.
"""

from __future__ import annotations

import struct

import numpy as np

FRAME, AUDIO = b"F", b"A"
_TIME = struct.Struct("<d")


def pack(kind: bytes, time: float, payload: bytes) -> bytes:
    return kind + _TIME.pack(time) + payload


def unpack(message: bytes) -> tuple[bytes, float, bytes]:
    """(kind, stream time, payload); ValueError on a malformed message."""
    if len(message) < 1 + _TIME.size or message[:1] not in (FRAME, AUDIO):
        raise ValueError("a live message starts with b'F' or b'A' and an 8-byte time")
    (time,) = _TIME.unpack_from(message, 1)
    if not np.isfinite(time) or time < 0:
        raise ValueError(f"bad stream time {time!r}")
    return message[:1], float(time), message[1 + _TIME.size:]


def encode_frame(rgb: np.ndarray, quality: int = 80) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("the frame could not be encoded as JPEG")
    return data.tobytes()


def decode_frame(jpeg: bytes) -> np.ndarray:
    """RGB uint8 from JPEG bytes; ValueError when they are not an image."""
    import cv2

    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("the frame is not a JPEG image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_audio(samples: np.ndarray) -> bytes:
    x = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (x * 32767).astype("<i2").tobytes()


def decode_audio(payload: bytes) -> np.ndarray:
    if len(payload) % 2:
        raise ValueError("audio must be 16-bit samples")
    return np.frombuffer(payload, dtype="<i2").astype(np.float32) / 32768.0
