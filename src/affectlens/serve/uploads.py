"""Turning an upload into a job's files, safely.

* The client's file name is kept for display only: the media is stored as
  ``<data>/jobs/<id>/media.bin`` and subtitles as ``subtitles.srt``/``.vtt``, so a name such as
  ``../../x.mp4`` can never write outside the data folder.
* What the media is gets judged by decoding it (FFmpeg reads the container from its bytes and
  the first frame is decoded), never by the name or the declared content type.
* Subtitles are parsed at upload time, so a broken file is a 422 now, not a failed job later.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..core.errors import AffectlensError
from ..core.types import MediaKind
from ..ingest.decode import probe
from ..ingest.subtitles import load_transcript

CHUNK = 1 << 20


class UploadRefused(Exception):
    """An upload that will not become a job; ``status`` is the HTTP code to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class StoredMedia:
    kind: str
    duration: float


def display_name(name: str | None) -> str:
    """The upload's name as shown in lists: its last path part, printable, at most 200 characters."""
    base = (name or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if c.isprintable()).strip() or "upload"
    return base[:200]


def copy_limited(src: BinaryIO, dest: Path, limit: int) -> int:
    """Copy ``src`` to ``dest`` in chunks; refuse (413) past ``limit`` bytes. Returns the size."""
    size = 0
    with open(dest, "wb") as out:
        while chunk := src.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise UploadRefused(413, f"the upload is larger than the limit of {limit // (1 << 20)} MB")
            out.write(chunk)
    if size == 0:
        raise UploadRefused(422, "the uploaded file is empty (0 bytes)")
    return size


def check_media(path: Path, display: str) -> StoredMedia:
    """Decode the start of ``path``; refuse (415) what is not audio, video or an image."""
    try:
        info = probe(path)
    except AffectlensError as e:
        message = str(e).replace(str(path), display)
        raise UploadRefused(415, f"not a media file this service can analyse: {message}") from e
    if info.kind is MediaKind.TEXT:
        raise UploadRefused(415, f"{display}: send transcripts as 'subtitles' beside a media file")
    return StoredMedia(kind=info.kind.value, duration=float(info.duration))


def store_subtitles(src: BinaryIO, folder: Path, display: str, limit: int) -> Path:
    """Save the subtitles under a fixed name (extension from their content) and parse them."""
    head = src.read(64)
    src.seek(0)
    text_head = head.lstrip(b"\xef\xbb\xbf").lstrip()
    dest = folder / ("subtitles.vtt" if text_head.startswith(b"WEBVTT") else "subtitles.srt")
    tmp = folder / "subtitles.upload"
    copy_limited(src, tmp, limit)
    shutil.move(tmp, dest)
    try:
        load_transcript(dest)
    except AffectlensError as e:
        dest.unlink(missing_ok=True)
        raise UploadRefused(422, str(e).replace(str(dest), display)) from e
    return dest
