"""Property tests for the subtitle and transcript readers (issue #28, bad input).

Two kinds of property. Documents generated from random cues must come back cue for cue (text,
speaker, times) whatever the spelling: SRT or WebVTT, hours or not, ``,`` or ``.``, voice tags,
cue settings, NOTE/STYLE/REGION blocks, BOM, CRLF or CR, UTF-8/UTF-16/cp1252 bytes. Anything
else (junk, truncated or shuffled files, absurd timings, binary bytes) must give segments with
finite, ordered times or a :class:`SubtitleError`, never another exception: the CLI and the
batch runner turn only our own errors into a one-line message.

Examples are not derandomized, so every run explores new inputs; a failure prints the
shrunk example, which then belongs in an ``@example`` or a plain regression test below.
"""

from __future__ import annotations

import csv
import html
import io
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from affectlens.core.errors import SubtitleError
from affectlens.core.types import Segment
from affectlens.ingest.subtitles import (
    ParsedTranscript,
    load_transcript,
    parse_subtitles,
    parse_transcript_csv,
    read_text_file,
)

# Sizes are kept small: a property is about shapes of input, not volume, and the whole file
# must stay well under 30 s on a busy two-core machine.
FAST = settings(max_examples=150, deadline=None)
#: Tests that write a file per example get pytest's ``tmp_path`` once and reuse it: each example
#: overwrites the same file, so sharing the folder across examples is harmless.
FILES = settings(FAST, suppress_health_check=[HealthCheck.function_scoped_fixture])


# --- what a document is made of ------------------------------------------------------------


@dataclass(frozen=True)
class Cue:
    """One cue as a reader must see it: times in ms, text lines, speaker."""

    start_ms: int
    end_ms: int
    lines: tuple[str, ...]
    speaker: str | None


def _norm(text: str) -> str:
    """Whitespace-insensitive form: cue lines are joined with spaces and may be re-wrapped."""
    return " ".join(text.split())


def _chars(exclude: str = "", codec: str = "utf-8") -> st.SearchStrategy[str]:
    """Any printable-or-not Unicode character that can sit inside one line of a text file.

    NUL is left out (a file holding it is taken for binary, on purpose) and so are the line
    breaks the reader splits on; ``{`` is left out because ``{\\...}`` is an SSA override tag
    that SRT files carry and the reader strips.
    """
    return st.characters(codec=codec, exclude_characters="\x00\n\r{" + exclude)


def _line(exclude: str = "", codec: str = "utf-8") -> st.SearchStrategy[str]:
    """One non-blank text line (a blank one would end the cue)."""
    return st.text(_chars(exclude, codec), min_size=1, max_size=12).filter(lambda s: s.strip() and "-->" not in s)


def _prefix_name(codec: str) -> st.SearchStrategy[str]:
    """A name as a ``Name: text`` prefix writes it: a capital (any script) then up to 30 of
    letters, digits, space, ``.``, ``'`` and ``-``. Names starting with "note"/"http" are
    excluded by the reader on purpose ("NOTE: ..." lines, URLs), so they are not generated.
    """
    word = st.characters(categories=["Lu", "Ll", "Lo", "Nd"], codec=codec)
    return st.builds(
        lambda first, rest: (first + rest).rstrip(),
        st.characters(categories=["Lu"], codec=codec),
        st.text(st.one_of(word, st.sampled_from(" .'-")), max_size=20),
    ).filter(lambda n: not n.lower().startswith(("note", "http")))


def _voice_name(codec: str) -> st.SearchStrategy[str]:
    """A WebVTT voice name: anything on one line, written escaped (``&amp;``, ``&lt;``, ``&gt;``)."""
    return st.text(_chars(codec=codec), min_size=1, max_size=12).filter(lambda s: s.strip())


@st.composite
def _times(draw: st.DrawFn, n: int) -> list[tuple[int, int]]:
    """``n`` (start, end) pairs in ms, starts non-decreasing (ties allowed), end >= start."""
    starts = sorted(draw(st.lists(st.integers(0, 100 * 3600 * 1000 - 1), min_size=n, max_size=n)))
    return [(s, s + draw(st.integers(0, 120_000))) for s in starts]


@st.composite
def _cues(draw: st.DrawFn, *, vtt: bool, codec: str) -> list[Cue]:
    """1-6 cues; a speaker is a voice tag in WebVTT and a ``Name:`` prefix otherwise.

    Text of a cue with no speaker has no ``:`` (else ``Word: rest`` would rightly read as a
    speaker) and, in SRT, no ``<`` (SRT has no escapes: ``<...>`` is always markup).
    """
    n = draw(st.integers(1, 6))
    cues = []
    for start, end in draw(_times(n)):
        speaker = draw(st.none() | (_voice_name(codec) if vtt else _prefix_name(codec)))
        exclude = ("" if speaker else ":") + ("" if vtt else "<")
        lines = tuple(draw(st.lists(_line(exclude, codec), min_size=1, max_size=3)))
        cues.append(Cue(start, end, lines, speaker))
    return cues


def _stamp(ms: int, *, hours: bool, width: int, sep: str) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, rest = divmod(rest, 1000)
    head = f"{h:0{width}d}:" if hours or h else ""
    return f"{head}{m:02d}:{s:02d}{sep}{rest:03d}"


@st.composite
def _timing(draw: st.DrawFn, cue: Cue, *, vtt: bool) -> str:
    """A timing line in any spelling both formats use in the wild."""
    hours, width = draw(st.booleans()), draw(st.sampled_from([2, 3]))
    sep = draw(st.sampled_from([".", ","]))
    arrow = draw(st.sampled_from([" --> ", "-->", "  -->\t", " -->  "]))
    settings_ = draw(st.sampled_from(
        ["", " align:start position:10%", " line:0 size:50%", " region:fred vertical:rl"] if vtt
        else ["", "  X1:100 X2:600 Y1:20 Y2:50"]
    ))
    start = _stamp(cue.start_ms, hours=hours, width=width, sep=sep)
    end = _stamp(cue.end_ms, hours=hours, width=width, sep=sep)
    return f"{start}{arrow}{end}{settings_}"


def _markup(draw: st.DrawFn, line: str) -> str:
    """Wrap a line in a styling tag now and then; readers must drop the tags, not the words."""
    tag = draw(st.sampled_from(["", "i", "b", "u", "c.yellow"]))
    return f"<{tag}>{line}</{tag.split('.')[0]}>" if tag else line


#: Blank lines between blocks: one or more, possibly holding spaces or tabs.
_GAP = st.lists(st.sampled_from(["", " ", "\t", "  "]), min_size=1, max_size=3).map(
    lambda blanks: "\n" + "\n".join(blanks) + "\n"
)


@st.composite
def srt_documents(draw: st.DrawFn, codec: str = "utf-8") -> tuple[str, list[Cue]]:
    """A valid SRT file (LF line ends) and the cues it holds; numbered or not."""
    cues = draw(_cues(vtt=False, codec=codec))
    numbered = draw(st.booleans())
    blocks = []
    for i, cue in enumerate(cues, 1):
        lines = [_markup(draw, ln) for ln in cue.lines]
        if cue.speaker:
            lines[0] = f"{cue.speaker}: {lines[0]}"
        blocks.append("\n".join([*([str(i)] if numbered else []), draw(_timing(cue, vtt=False)), *lines]))
    text = draw(st.sampled_from(["", "\n", " \n"])) + "".join(b + draw(_GAP) for b in blocks)
    return text, cues


def _escape(text: str) -> str:
    """WebVTT's escaping: ``&``, ``<`` and ``>`` are written as character references."""
    return html.escape(text, quote=False)


_NOTE = st.builds(lambda body: "NOTE" + (f" {body}" if body else ""), st.sampled_from(["", "a comment", "two\nlines"]))
_HEAD_BLOCKS = st.sampled_from([
    "STYLE\n::cue {\n  color: yellow;\n}", "STYLE\n::cue(v[voice=\"Esme\"]) { color: red }",
    "REGION\nid:fred\nwidth:40%\nlines:3\nregionanchor:0%,100%",
])
#: Cue identifiers are free text; the spec makes even ``NOTE 1`` or ``STYLE`` an identifier
#: when a timing line follows on the next line.
_IDENT = st.one_of(
    st.integers(1, 9999).map(str),
    st.text(_chars("-", "ascii"), min_size=1, max_size=10).filter(str.strip),
    st.sampled_from(["NOTE 1", "STYLE", "REGION a", "intro-1"]),
)


@st.composite
def vtt_documents(draw: st.DrawFn, codec: str = "utf-8") -> tuple[str, list[Cue]]:
    """A valid WebVTT file (LF line ends) with header, NOTE/STYLE/REGION blocks, and its cues."""
    cues = draw(_cues(vtt=True, codec=codec))
    header = draw(st.sampled_from(["WEBVTT", "WEBVTT - a title", "WEBVTT\nKind: captions\nLanguage: en"]))
    blocks = [header, *draw(st.lists(_HEAD_BLOCKS | _NOTE, max_size=2))]
    for cue in cues:
        lines = [_markup(draw, _escape(ln)) for ln in cue.lines]
        if cue.speaker:
            klass = draw(st.sampled_from(["", ".loud", ".a.b"]))
            close = draw(st.sampled_from(["", "</v>"]))
            lines[0] = f"<v{klass} {_escape(cue.speaker)}>{lines[0]}"
            lines[-1] += close
        ident = draw(st.none() | _IDENT)
        blocks.append("\n".join([*([ident] if ident else []), draw(_timing(cue, vtt=True)), *lines]))
        if draw(st.integers(0, 4)) == 0:
            blocks.append(draw(_NOTE))
    return "".join(b + draw(_GAP) for b in blocks), cues


_DOCUMENTS = st.one_of(srt_documents(), vtt_documents())
#: What Windows-1252 can hold: the reader falls back to cp1252 when bytes are not UTF-8.
_CP1252_DOCUMENTS = st.one_of(srt_documents("cp1252"), vtt_documents("cp1252"))


def _line_ends(text: str, newline: str) -> str:
    return text.replace("\n", newline)


# --- invariants any successful parse must meet -------------------------------------------


def _check_segments(parsed: ParsedTranscript) -> None:
    """What every consumer downstream assumes about segments, whatever the input was."""
    assert isinstance(parsed, ParsedTranscript) and parsed.segments
    for i, seg in enumerate(parsed.segments):
        assert isinstance(seg, Segment) and seg.index == i
        assert math.isfinite(seg.start) and math.isfinite(seg.end), seg
        assert 0 <= seg.start <= seg.end, seg
        assert isinstance(seg.text, str) and seg.text.strip(), seg
        assert seg.speaker is None or (isinstance(seg.speaker, str) and seg.speaker.strip()), seg
    assert all(isinstance(w, str) for w in parsed.warnings)


def _check_subtitles(parsed: ParsedTranscript) -> None:
    _check_segments(parsed)
    starts = [s.start for s in parsed.segments]
    assert starts == sorted(starts)


def _assert_cues(parsed: ParsedTranscript, cues: list[Cue]) -> None:
    """Every cue is there, in order, with its words, speaker and times."""
    _check_subtitles(parsed)
    got = [(s.start, s.end, s.speaker, s.text) for s in parsed.segments]
    assert len(got) == len(cues), (got, cues)
    for (start, end, speaker, text), cue in zip(got, cues, strict=True):
        assert math.isclose(start, cue.start_ms / 1000, abs_tol=1e-6)
        assert math.isclose(end, cue.end_ms / 1000, abs_tol=1e-6)
        assert _norm(text) == _norm(" ".join(cue.lines))
        assert speaker == (cue.speaker.strip() if cue.speaker else None)


# --- valid documents come back whole ---------------------------------------------------------


@FAST
@given(doc=srt_documents(), newline=st.sampled_from(["\n", "\r\n", "\r"]))
@example(doc=("1\n00:00:01,000 --> 00:00:02,000\nÉmile: Bonjour\n", [Cue(1000, 2000, ("Bonjour",), "Émile")]),
         newline="\n")
def test_srt_keeps_every_cue(doc: tuple[str, list[Cue]], newline: str) -> None:
    """SRT with speakers, markup, optional numbers/hours, either ms separator, any line ends."""
    text, cues = doc
    parsed = parse_subtitles(_line_ends(text, newline))
    _assert_cues(parsed, cues)
    assert not parsed.warnings


@FAST
@given(doc=vtt_documents(), newline=st.sampled_from(["\n", "\r\n", "\r"]))
@example(doc=("WEBVTT\n\n00:01.000 --> 00:02.000\n<v Tom &amp; Jerry>Salt &amp; pepper &lt;3\n",
              [Cue(1000, 2000, ("Salt & pepper <3",), "Tom & Jerry")]), newline="\n")
@example(doc=("WEBVTT\n\nNOTE 1\n00:01.000 --> 00:02.000\nHi\n", [Cue(1000, 2000, ("Hi",), None)]), newline="\n")
@example(doc=("WEBVTT\n00:01.000 --> 00:02.000\nHi\n", [Cue(1000, 2000, ("Hi",), None)]), newline="\n")
def test_webvtt_keeps_every_cue(doc: tuple[str, list[Cue]], newline: str) -> None:
    """WebVTT with voice tags, escapes, settings, identifiers and NOTE/STYLE/REGION blocks."""
    text, cues = doc
    parsed = parse_subtitles(_line_ends(text, newline))
    _assert_cues(parsed, cues)
    assert not parsed.warnings


_UNICODE_ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le+bom", "utf-16-be+bom"])
#: ``cp1252+utf8bom``: saved as "UTF-8 with BOM", then appended to by a Windows-1252 tool.
_CP1252_ENCODINGS = st.sampled_from(["cp1252", "cp1252+utf8bom"])


def _encode(text: str, encoding: str) -> bytes:
    """Bytes as editors write them; ``+bom`` spells the byte-order mark out explicitly."""
    if encoding == "utf-16-le+bom":
        return b"\xff\xfe" + text.encode("utf-16-le")
    if encoding == "utf-16-be+bom":
        return b"\xfe\xff" + text.encode("utf-16-be")
    if encoding == "cp1252+utf8bom":
        return b"\xef\xbb\xbf" + text.encode("cp1252")
    return text.encode(encoding)


def _assume_unambiguous(raw: bytes, text: str, encoding: str) -> None:
    """Skip cp1252 bytes that are also valid UTF-8 meaning something else ("Ã©"): the reader
    rightly tries UTF-8 first, so such a document cannot come back as written."""
    if encoding.startswith("cp1252"):
        try:
            assume(raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8") == text)
        except UnicodeDecodeError:
            pass


#: (encoding, document) with documents drawn from what the encoding can hold.
_ENCODED_DOCUMENTS = st.one_of(st.tuples(_UNICODE_ENCODINGS, _DOCUMENTS), st.tuples(_CP1252_ENCODINGS, _CP1252_DOCUMENTS))


@FILES
@given(encoded=_ENCODED_DOCUMENTS, newline=st.sampled_from(["\n", "\r\n", "\r"]))
@example(encoded=("cp1252+utf8bom", ("1\n00:00:01,000 --> 00:00:02,000\nCafé\n", [Cue(1000, 2000, ("Café",), None)])),
         newline="\n")
def test_files_in_any_encoding_keep_every_cue(
    tmp_path: Path, encoded: tuple[str, tuple[str, list[Cue]]], newline: str
) -> None:
    """The same cues survive the trip through bytes: BOMs, UTF-16 either way round, cp1252."""
    encoding, (text, cues) = encoded
    text = _line_ends(text, newline)
    raw = _encode(text, encoding)
    _assume_unambiguous(raw, text, encoding)
    path = tmp_path / ("cues.vtt" if text.startswith("WEBVTT") else "cues.srt")
    path.write_bytes(raw)
    parsed = load_transcript(path)
    _assert_cues(parsed, cues)
    assert all("UTF-8" in w for w in parsed.warnings)  # at most the cp1252 notice


# --- anything else: a result or SubtitleError, nothing else --------------------------------


def _parse_or_refuse(text: str) -> ParsedTranscript | None:
    try:
        parsed = parse_subtitles(text)
    except SubtitleError:
        return None
    _check_subtitles(parsed)
    return parsed


#: Pieces that steer random text towards what the parser looks at.
_TOKENS = st.sampled_from([
    "-->", " --> ", "WEBVTT", "NOTE", "STYLE", "\n", "\n\n", "\r\n", "\r", ":", ": ", ",", ".", "<v ", "<v", ">",
    "<", "</v>", "<i>", "&amp;", "&", "{\\an8}", "00:00:01,000", "00:01.000", "1", "99", "٣", "\ufeff", " ", "\t",
])
_JUNK = st.lists(st.one_of(_TOKENS, st.text(max_size=6)), max_size=30).map("".join)


@FAST
@given(text=st.one_of(st.text(), _JUNK))
@example(text="1\n00:00:01,000 --> 00:00:02,000\n<v  >hello\n")
def test_junk_text_gives_cues_or_subtitle_error(text: str) -> None:
    """Random text, including text made of the very tokens the parser looks for."""
    _parse_or_refuse(text)


#: Numbers as timings hold them: ordinary, missing, very long, or in other scripts' digits.
_NUMBER = st.one_of(
    st.integers(0, 99).map(lambda n: f"{n:02d}"),
    st.text("0123456789", max_size=4),
    st.integers(300, 5000).map(lambda n: "9" * n),  # past float range, past int() digit limit
    st.text(st.characters(categories=["Nd"]), min_size=1, max_size=3),
    st.sampled_from(["-1", "-00", "+5", "1e3", " 1", "nan"]),
)
_STAMP = st.builds(lambda h, m, s, ms, sep: f"{h}:{m}:{s}{sep}{ms}", _NUMBER, _NUMBER, _NUMBER, _NUMBER,
                   st.sampled_from([",", ".", ":", ""]))
_ODD_TIMING = st.builds(lambda a, arrow, b: f"{a}{arrow}{b}", _STAMP, st.sampled_from([" --> ", "-->", " -> ", " --> --> "]),
                        _STAMP)


@FAST
@given(doc=_DOCUMENTS, data=st.data())
def test_damaged_documents_give_cues_or_subtitle_error(doc: tuple[str, list[Cue]], data: st.DataObject) -> None:
    """Valid files, then damaged: lines dropped, doubled, swapped, re-timed oddly, cut short."""
    lines = doc[0].split("\n")
    for _ in range(data.draw(st.integers(1, 5))):
        i = data.draw(st.integers(0, len(lines) - 1))
        kind = data.draw(st.sampled_from(["drop", "double", "swap", "timing", "junk"]))
        if kind == "drop" and len(lines) > 1:
            del lines[i]
        elif kind == "double":
            lines.insert(i, lines[i])
        elif kind == "swap":
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "timing":
            lines[i] = data.draw(_ODD_TIMING)
        elif kind == "junk":
            lines[i] = data.draw(_JUNK)
    text = "\n".join(lines)
    if data.draw(st.booleans()):
        text = text[: data.draw(st.integers(0, len(text)))]
    _parse_or_refuse(text)


@pytest.mark.parametrize("timing", [
    "1" * 400 + ":00:00,000 --> " + "1" * 400 + ":00:01,000",  # hours past the float range
    "9" * 5000 + ":00:00,000 --> 00:00:01,000",  # past int()'s digit limit
])
def test_absurd_hours_are_a_bad_cue_not_a_crash(timing: str) -> None:
    """Regression: these raised OverflowError / ValueError instead of skipping the cue."""
    parsed = parse_subtitles(f"1\n{timing}\nbad\n\n2\n00:00:01,000 --> 00:00:02,000\ngood\n")
    assert [s.text for s in parsed.segments] == ["good"] and parsed.warnings


@FAST
@given(timings=st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 10**7)), min_size=1, max_size=8))
def test_overlapping_and_reversed_cues(timings: list[tuple[int, int]]) -> None:
    """Overlaps are kept, reversed cues (end before start) skipped with a warning, order by start."""
    text = "".join(
        f"{i}\n{_stamp(a, hours=True, width=2, sep=',')} --> {_stamp(b, hours=True, width=2, sep=',')}\ncue {i}\n\n"
        for i, (a, b) in enumerate(timings)
    )
    kept = sorted(((a, i) for i, (a, b) in enumerate(timings) if b >= a), key=lambda k: k[0])
    parsed = _parse_or_refuse(text)
    if not kept:
        assert parsed is None
        return
    assert parsed is not None
    assert [s.text for s in parsed.segments] == [f"cue {i}" for _, i in kept]
    assert bool(parsed.warnings) == (len(kept) < len(timings))


# --- CSV transcripts ---------------------------------------------------------------------

_HEADER_SPELLINGS = {
    "utterance": ["utterance", "Utterance", " UTTERANCE "],
    "speaker": ["speaker", "Speaker"],
    "dialogue": ["dialogue", "dialogue_id", "Dialogue"],
    "start": ["start", "Start"],
    "end": ["end", " END"],
}


@st.composite
def csv_documents(draw: st.DrawFn, codec: str = "utf-8") -> tuple[str, list[dict[str, object]]]:
    """A CSV transcript: any column order, optional columns, any text quoted as csv writes it."""
    cell = st.text(st.characters(codec=codec, exclude_characters="\x00"), max_size=12)
    columns = ["utterance", *draw(st.lists(st.sampled_from(["speaker", "dialogue", "start", "end", "extra"]),
                                           unique=True))]
    columns = draw(st.permutations(columns))
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        start = draw(st.floats(0, 1e6, allow_nan=False))
        row: dict[str, object] = {"utterance": draw(cell), "speaker": draw(cell), "dialogue": draw(cell),
                                  "start": start, "end": start + draw(st.floats(0, 1e4, allow_nan=False)),
                                  "extra": draw(cell)}
        rows.append(row)
    assume(any(str(r["utterance"]).strip() for r in rows))
    out = io.StringIO()
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    # csv.writer quotes a cell only for the line ends of *its* terminator: a "\n" in a cell of a
    # CR-terminated file would go out bare and the file would say something else. Quote all then.
    if newline != "\r\n" and any("\n" in str(v) or "\r" in str(v) for r in rows for v in r.values()):
        quoting = csv.QUOTE_ALL
    writer = csv.writer(out, lineterminator=newline, quoting=quoting)
    writer.writerow([draw(st.sampled_from(_HEADER_SPELLINGS.get(c, [c]))) for c in columns])
    for row in rows:
        writer.writerow([repr(row[c]) if c in ("start", "end") else row[c] for c in columns])
    expected = [
        {"text": str(r["utterance"]).strip(),
         "speaker": (str(r["speaker"]).strip() or None) if "speaker" in columns else None,
         "dialogue": (str(r["dialogue"]).strip() or None) if "dialogue" in columns else None,
         "start": r["start"] if "start" in columns else 0.0,
         "end": r["end"] if "end" in columns else (r["start"] if "start" in columns else 0.0)}
        for r in rows if str(r["utterance"]).strip()
    ]
    return out.getvalue(), expected


def _assert_rows(parsed: ParsedTranscript, expected: list[dict[str, object]]) -> None:
    _check_segments(parsed)
    got = [{"text": s.text, "speaker": s.speaker, "dialogue": s.dialogue, "start": s.start, "end": s.end}
           for s in parsed.segments]
    assert got == expected


@FAST
@given(doc=csv_documents())
def test_csv_keeps_every_row(doc: tuple[str, list[dict[str, object]]]) -> None:
    """Every non-empty utterance, in order, with its speaker, dialogue and times."""
    text, expected = doc
    _assert_rows(parse_transcript_csv(text), expected)


@FILES
@given(encoded=st.one_of(st.tuples(_UNICODE_ENCODINGS, csv_documents()),
                         st.tuples(_CP1252_ENCODINGS, csv_documents("cp1252"))))
def test_csv_files_in_any_encoding(tmp_path: Path, encoded: tuple[str, tuple[str, list[dict[str, object]]]]) -> None:
    """A BOM must not hide the first column's name (Excel writes ``utf-8-sig``)."""
    encoding, (text, expected) = encoded
    raw = _encode(text, encoding)
    _assume_unambiguous(raw, text, encoding)
    path = tmp_path / "t.csv"
    path.write_bytes(raw)
    _assert_rows(load_transcript(path), expected)


@FAST
@given(text=st.one_of(st.text(), st.lists(st.one_of(st.sampled_from(
    ["utterance", "text", "start", "end", "speaker", ",", '"', "\n", "\r", "nan", "inf", "-1", "1e999", "\ufeff"]),
    st.text(max_size=5)), max_size=30).map("".join)))
@example(text="utterance,start,end\nhi,nan,inf\n")
@example(text="utterance,start,end\nhi,5,2\n")
@example(text="utterance,start\nhi,-3\n")
def test_junk_csv_gives_rows_or_subtitle_error(text: str) -> None:
    """Junk CSV, including non-finite, negative or reversed times, which used to come through."""
    try:
        parsed = parse_transcript_csv(text)
    except SubtitleError:
        return
    _check_segments(parsed)


# --- bytes on disk ---------------------------------------------------------------------------


@FILES
@given(raw=st.one_of(st.binary(max_size=200), st.builds(
    lambda doc, enc, cut: _encode(doc[0], enc)[:cut], _DOCUMENTS, st.sampled_from(["utf-8-sig", "utf-16"]),
    st.integers(0, 400))), suffix=st.sampled_from([".srt", ".vtt", ".csv", ".txt", ""]))
@example(raw=b"\xff\xfe1\x00", suffix=".srt")  # UTF-16 cut in the middle of a character
@example(raw=b"<i></i>\n", suffix=".txt")
def test_any_bytes_give_a_transcript_or_subtitle_error(tmp_path: Path, raw: bytes, suffix: str) -> None:
    """Binary junk, truncated UTF-16, every suffix: read, or refused with SubtitleError."""
    path = tmp_path / f"input{suffix}"
    path.write_bytes(raw)
    try:
        text, warnings = read_text_file(path)
    except SubtitleError:
        return
    assert isinstance(text, str) and all(isinstance(w, str) for w in warnings)
    try:
        parsed = load_transcript(path)
    except SubtitleError:
        return
    _check_segments(parsed)
