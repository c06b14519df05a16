"""Subtitle and transcript parsing, including damaged files."""

from __future__ import annotations

import pytest

from affectlens.core.errors import SubtitleError
from affectlens.ingest.subtitles import load_transcript, parse_subtitles, parse_transcript_csv

SRT = """1
00:00:01,000 --> 00:00:02,500
Monica: Hi there!

2
00:00:03,000 --> 00:00:04,000
<i>Plain line</i>

3
00:00:05,000 --> 00:00:04,000
end before start
"""

VTT = """WEBVTT

NOTE a comment

00:01.000 --> 00:02.000
<v Ross>We were on a break!

00:00:02.500 --> 00:00:03.500 align:start
Second
"""


def test_srt_with_speakers_and_a_bad_cue():
    parsed = parse_subtitles(SRT)
    assert [(s.start, s.end, s.speaker, s.text) for s in parsed.segments] == [
        (1.0, 2.5, "Monica", "Hi there!"), (3.0, 4.0, None, "Plain line"),
    ]
    assert parsed.warnings and "skipped" in parsed.warnings[0]


def test_webvtt_voice_tags():
    segs = parse_subtitles(VTT).segments
    assert segs[0].speaker == "Ross" and segs[0].text == "We were on a break!"
    assert segs[1].start == 2.5 and segs[1].source == "subtitles"


@pytest.mark.parametrize("text", ["just some text\nwithout cues", "1\n00:00 --> nonsense\nhello"])
def test_unusable_subtitles_raise(text):
    with pytest.raises(SubtitleError):
        parse_subtitles(text)


def test_csv_transcript_and_missing_column():
    parsed = parse_transcript_csv("speaker,utterance,dialogue\nA,Hello,1\nB,,1\nA,Bye,2\n")
    assert [s.text for s in parsed.segments] == ["Hello", "Bye"]
    assert parsed.segments[1].dialogue == "2" and parsed.warnings
    with pytest.raises(SubtitleError, match="utterance"):
        parse_transcript_csv("speaker,words\nA,Hello\n")


def test_cp1252_file_is_read_with_a_warning(tmp_path):
    path = tmp_path / "s.srt"
    path.write_bytes("1\n00:00:01,000 --> 00:00:02,000\nCafé crème\n".encode("cp1252"))
    parsed = load_transcript(path)
    assert parsed.segments[0].text == "Café crème"
    assert any("UTF-8" in w for w in parsed.warnings)


def test_empty_and_binary_files(tmp_path):
    empty = tmp_path / "e.srt"
    empty.write_text("  \n")
    with pytest.raises(SubtitleError, match="empty"):
        load_transcript(empty)
    binary = tmp_path / "b.vtt"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(SubtitleError, match="binary"):
        load_transcript(binary)


def test_bad_cues_are_named_by_line():
    from affectlens.core.errors import SubtitleError
    from affectlens.ingest.subtitles import parse_subtitles

    text = ("1\n00:00:01,000 --> 00:00:02,000\nhello\n\n"
            "2\n00:00:03.000 -> 00:00:04\nbad arrow\n\n"
            "3\n00:00:09,000 --> 00:00:05,000\nbackwards\n")
    parsed = parse_subtitles(text, name="x.srt")
    assert [s.text for s in parsed.segments] == ["hello"]
    (warning,) = parsed.warnings
    assert "2 cue(s) in x.srt" in warning and "line 6:" in warning and "00:00:03.000 -> 00:00:04" in warning
    blank_lines_first = "\n" * 8 + "3\n00:00:09,000 --> 00:00:05,000\nbackwards\n"  # the cue's timing is line 10
    with pytest.raises(SubtitleError, match=r"^y\.srt: no subtitle cue could be read; line 10: the cue ends"):
        parse_subtitles("\ufeff" + blank_lines_first, name="y.srt")
    with pytest.raises(SubtitleError) as err:
        parse_subtitles("1\nno timing here\n", name="z.srt")
    assert "line 2" in str(err.value) and "\n" not in str(err.value)
