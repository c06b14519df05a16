"""Subtitles (SRT, WebVTT) and transcript tables (CSV) -> utterance segments.

Subtitles are the best utterance boundaries there are: a human already split the speech.
Speakers come from a ``Name: text`` prefix, a WebVTT ``<v Name>`` voice tag, or a CSV
``speaker`` column. Damaged files are handled the way a user would want: cues that cannot be
parsed are skipped and reported; a file with no usable cue at all is an error.
"""

from __future__ import annotations

import csv
import html
import io
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import SubtitleError
from ..core.types import Segment

log = logging.getLogger(__name__)

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
# A name starts with a letter of any script ("Émile", "Ольга"); that it is a capital is checked
# in _split_speaker, as a regular expression cannot say "uppercase" beyond A-Z.
_SPEAKER_PREFIX = re.compile(r"^\s*([^\W\d_][\w .'\-]{0,30}?)\s*:\s+(\S.*)$")
_VTT_VOICE = re.compile(r"<v(?:\.[\w.]+)?\s+([^>]+)>")
_TAGS = re.compile(r"<[^>]+>|\{\\[^}]*\}")


@dataclass
class ParsedTranscript:
    """Segments read from a subtitle/transcript file and what had to be repaired or skipped."""

    segments: list[Segment]
    warnings: list[str] = field(default_factory=list)


def read_text_file(path: str | Path) -> tuple[str, list[str]]:
    """Read text, trying UTF-8 (with or without BOM) then cp1252; report any fallback."""
    path = Path(path)
    if not path.is_file():
        raise SubtitleError(f"{path}: no such file")
    raw = path.read_bytes()
    if not raw.strip():
        raise SubtitleError(f"{path}: the file is empty")
    if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SubtitleError(f"{path}: looks like a binary file, not subtitles or a transcript")
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            if encoding == "utf-16" and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                continue
            return raw.decode(encoding), []
        except UnicodeDecodeError:
            continue
    # A UTF-8 BOM on bytes that are not UTF-8 after all (saved as "UTF-8 with BOM", then edited
    # by a Windows-1252 tool) would otherwise become "ï»¿" glued to the first word or column name.
    text = raw.removeprefix(b"\xef\xbb\xbf").decode("cp1252", errors="replace")
    return text, [f"{path.name} is not valid UTF-8; read it as Windows-1252 (check accented characters)"]


def _seconds(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def _split_speaker(text: str, *, vtt: bool = False) -> tuple[str | None, str]:
    """(speaker or None, text without markup). ``vtt``: decode WebVTT's ``&amp;``/``&lt;``/``&gt;``
    escapes (SRT has none: a bare ``&`` there is text), after the tags are gone so that an
    escaped ``&lt;b&gt;`` stays words."""
    unescape = html.unescape if vtt else str
    voice = _VTT_VOICE.search(text)
    if voice:  # a blank voice name ("<v  >") is no speaker
        return unescape(voice.group(1)).strip() or None, unescape(_TAGS.sub("", text)).strip()
    clean = unescape(_TAGS.sub("", text)).strip()
    match = _SPEAKER_PREFIX.match(clean)
    if match and match.group(1)[0].isupper() and not match.group(1).lower().startswith(("http", "note")):
        return match.group(1).strip(), match.group(2).strip()
    return None, clean


def _blocks(text: str) -> Iterator[list[tuple[int, str]]]:
    """Runs of non-blank lines, each line with its 1-based number in ``text``."""
    block: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            block.append((number, line))
        elif block:
            yield block
            block = []
    if block:
        yield block


def _shown(line: str, limit: int = 40) -> str:
    """A line quoted for a one-line message (shortened; control characters escaped)."""
    line = line.strip()
    return repr(line if len(line) <= limit else line[:limit] + "...")


TIMING_EXAMPLE = "'00:00:01,000 --> 00:00:02,500'"


def parse_subtitles(text: str, *, name: str = "subtitles") -> ParsedTranscript:
    """Parse SRT or WebVTT text into segments (one per cue), in time order.

    Cues that cannot be read are skipped with a warning that names the first one's line and
    what was expected there; when none can be read, that is the error.
    """
    warnings: list[str] = []
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lead = len(text) - len(text.lstrip())
    if text[lead:lead + 1] == "\ufeff":  # a byte-order mark, once decoded (line numbers stay)
        text = text[:lead] + text[lead + 1:]
    vtt = text.lstrip().startswith("WEBVTT")
    cues: list[tuple[float, float, str | None, str]] = []
    problems: list[str] = []  # one per skipped cue: "line N: what was wrong"
    for block in _blocks(text):
        lines = [ln for _, ln in block]
        timing_at = next((i for i, ln in enumerate(lines) if "-->" in ln), None)
        if timing_at is None:
            # Header, NOTE, STYLE and REGION blocks have no timing line. One that has it is a cue,
            # as WebVTT says, even when its identifier reads "NOTE 1" or it follows "WEBVTT" directly.
            if not lines[0].lstrip().startswith(("WEBVTT", "NOTE", "STYLE", "REGION")):
                at = 1 if len(lines) > 1 and lines[0].strip().isdigit() else 0  # after an SRT cue number
                problems.append(f"line {block[at][0]}: expected a timing line like {TIMING_EXAMPLE}, "
                                f"got {_shown(lines[at])}")
            continue
        number = block[timing_at][0]
        match = _TIMING.match(lines[timing_at])
        if not match:
            problems.append(f"line {number}: {_shown(lines[timing_at])} is not a timing like {TIMING_EXAMPLE}")
            continue
        g = match.groups()
        try:
            start, end = _seconds(*g[0:4]), _seconds(*g[4:8])
        except (ValueError, OverflowError):  # hours of hundreds of digits: past int() or float range
            problems.append(f"line {number}: the times are out of range")
            continue
        body = " ".join(ln.strip() for ln in lines[timing_at + 1:])
        if end < start:
            problems.append(f"line {number}: the cue ends ({end:.3f} s) before it starts ({start:.3f} s)")
            continue
        speaker, words = _split_speaker(body, vtt=vtt)
        if not words:
            continue
        cues.append((start, end, speaker, words))
    if problems:
        warnings.append(f"{len(problems)} cue(s) in {name} could not be parsed and were skipped "
                        f"(first: {problems[0]})")
    if not cues:
        raise SubtitleError(f"{name}: no subtitle cue could be read; {problems[0]}" if problems else
                            f"{name}: no subtitle cue could be read; expected SRT or WebVTT blocks like "
                            f"{TIMING_EXAMPLE} followed by the text")
    cues.sort(key=lambda c: c[0])
    segments = [
        Segment(index=i, start=s, end=e, source="subtitles", text=t, speaker=spk)
        for i, (s, e, spk, t) in enumerate(cues)
    ]
    return ParsedTranscript(segments, warnings)


def parse_transcript_csv(text: str, *, name: str = "transcript") -> ParsedTranscript:
    """A CSV with an ``utterance`` column (optional ``speaker``, ``dialogue``, ``start``, ``end``)."""
    try:  # newline="": quoted fields keep their line breaks and CR-only files (old Mac Excel) read
        reader = csv.DictReader(io.StringIO(text, newline=""))
        fields = {f.strip().lower(): f for f in (reader.fieldnames or [])}
        rows = list(reader)
    except csv.Error as e:
        raise SubtitleError(f"{name}: not a readable CSV ({e})") from e
    column = fields.get("utterance") or fields.get("text")
    if column is None:
        raise SubtitleError(
            f"{name}: the CSV has no 'utterance' column (columns: {', '.join(fields.values()) or 'none'})"
        )
    warnings: list[str] = []
    segments: list[Segment] = []
    empty = odd_times = 0
    for row in rows:
        utterance = (row.get(column) or "").strip()
        if not utterance:
            empty += 1
            continue

        def col(key: str, row: dict = row) -> str | None:
            value = row.get(fields[key]) if key in fields else None
            return value.strip() if value and value.strip() else None

        start, end = _time_or_none(col("start")), _time_or_none(col("end"))
        # Text, NaN, infinite or negative times, and an end before the start, cannot be used:
        # the row is kept (its words matter) at its start, or at 0 s, and the user is told.
        if (col("start") and start is None) or (col("end") and (end is None or end < (start or 0.0))):
            odd_times += 1
        start = start if start is not None else 0.0
        end = end if end is not None and end >= start else start
        segments.append(Segment(
            index=len(segments), start=start, end=end, source="text", text=utterance,
            speaker=col("speaker"), dialogue=col("dialogue") or col("dialogue_id"),
        ))
    if empty:
        warnings.append(f"{empty} empty row(s) in {name} were skipped")
    if odd_times:
        warnings.append(f"{odd_times} row(s) in {name} had unusable start/end times; kept, at their start")
    if not segments:
        raise SubtitleError(f"{name}: the 'utterance' column holds no text")
    return ParsedTranscript(segments, warnings)


def _time_or_none(value: str | None) -> float | None:
    """Seconds from a CSV cell, or None when missing or not a time (text, NaN, inf, negative)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def parse_plain_lines(text: str, *, name: str = "transcript") -> ParsedTranscript:
    """One utterance per non-empty line; ``Name: text`` lines carry a speaker."""
    segments = []
    for line in text.splitlines():
        if not line.strip():
            continue
        speaker, words = _split_speaker(line)
        if not words:  # a line of markup only ("<i></i>") says nothing
            continue
        segments.append(Segment(index=len(segments), start=0.0, end=0.0, source="text", text=words, speaker=speaker))
    if not segments:
        raise SubtitleError(f"{name}: holds no text")
    return ParsedTranscript(segments)


def load_transcript(path: str | Path) -> ParsedTranscript:
    """Read ``.srt``, ``.vtt``, ``.csv`` or ``.txt`` into segments."""
    path = Path(path)
    text, warnings = read_text_file(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        parsed = parse_transcript_csv(text, name=path.name)
    elif suffix == ".txt" and "-->" not in text:
        parsed = parse_plain_lines(text, name=path.name)
    else:
        parsed = parse_subtitles(text, name=path.name)
    parsed.warnings[:0] = warnings
    for w in parsed.warnings:
        log.warning(w)
    return parsed


#: What a subtitles folder may hold for a media file ``clip.mp4``: ``clip.srt``, ``clip.vtt`` or
#: ``clip.csv`` (first found, in this order).
SUBTITLE_SUFFIXES = (".srt", ".vtt", ".csv")


def subtitles_folder(path: str | Path | None, *, single: str | Path | None = None) -> Path | None:
    """``path`` as a folder of per-file subtitles (None stays None); a clear error when it is not
    one, or when ``single`` (one subtitle file for every input) is given as well."""
    from ..core.errors import ParameterError

    if path is None:
        return None
    if single:
        raise ParameterError("give either one subtitle file or a subtitles folder, not both")
    folder = Path(path)
    if not folder.is_dir():
        raise ParameterError(f"subtitles folder {folder} " + ("is a file" if folder.exists() else "not found"))
    return folder


def find_subtitles(media: Path, subtitles_dir: Path | None) -> Path | None:
    """``<subtitles_dir>/<media stem>.(srt|vtt|csv)``, if there is one.

    A corpus rarely comes with one subtitle file: MER-style clips each have their own
    transcript, named after the clip. A file without one is transcribed as usual.
    """
    if subtitles_dir is None:
        return None
    return next((p for s in SUBTITLE_SUFFIXES if (p := subtitles_dir / f"{media.stem}{s}").is_file()), None)
