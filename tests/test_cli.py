"""The command line: help, one-line errors, outputs."""

from __future__ import annotations

import json

import pytest

from affectlens.cli import build_parser, main


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    out = capsys.readouterr().out
    for option in ("--subtitles", "--out", "--format", "--face-fps", "--no-asr", "--llm-url", "--threads"):
        assert option in out


def test_missing_file_is_one_line_error(tmp_path, capsys):
    code = main(["analyze", str(tmp_path / "missing.mp4"), "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("affectlens: error:")


def test_bad_face_fps_is_rejected():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["analyze", "x.mp4", "--face-fps", "-3"])


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_bad_threads_are_rejected(value):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["analyze", "x.mp4", "--threads", value])


def test_threads_reach_the_options():
    assert build_parser().parse_args(["analyze", "x.mp4", "--threads", "1"]).threads == 1


def test_unknown_format(tmp_path, capsys):
    code = main(["analyze", "x.mp4", "--format", "pdf", "--out", str(tmp_path)])
    assert code == 1 and "unknown output format" in capsys.readouterr().err


@pytest.mark.slow
def test_transcript_to_json_and_csv(tmp_path):
    vtt = tmp_path / "t.vtt"
    vtt.write_text("WEBVTT\n\n00:00.000 --> 00:02.000\n<v Ann>I'm scared, something is wrong.\n")
    code = main(["analyze", str(vtt), "--out", str(tmp_path / "o"), "--format", "json,csv", "--quiet"])
    assert code == 0
    data = json.loads((tmp_path / "o" / "t.json").read_text())
    assert data["utterances"][0]["segment"]["speaker"] == "Ann"
    assert (tmp_path / "o" / "t.csv").read_text().count("\n") == 2


def test_empty_folder_is_an_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["analyze", str(tmp_path / "empty"), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "no media files" in err[0]


def test_native_log_lines_are_recognised():
    from affectlens.core.quiet import is_native_log

    noise = [
        "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "W0000 00:00:1796512500.974945     556 inference_feedback_manager.cc:114] Feedback manager requires...",
        "I0000 00:00:1796512500.974945     556 gl_context.cc:357] GL version: 2.1",
    ]
    assert all(is_native_log(line) for line in noise)
    assert not is_native_log("affectlens: error: clip.mp4: no such file")
    assert not is_native_log("Traceback (most recent call last):")


@pytest.mark.slow
def test_terminal_stays_clean(tmp_path, demo_dir):
    """A real run in a fresh process: MediaPipe's C++ log lines do not reach stderr, and an
    error after the models loaded is still one line."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "affectlens.cli", "analyze", str(demo_dir / "multi_face.jpg"),
                          "--out", str(tmp_path), "--format", "json"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip() == "", run.stderr
    assert "wrote" in run.stdout


def test_options_must_be_spelled_out():
    """``--asr off`` is not ``--asr-model off``: prefixes of options are refused, in one line."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["analyze", "x.mp4", "--asr", "off"])
    assert build_parser().parse_args(["analyze", "x.mp4", "--asr-model", "whisper-base"]).asr_model == "whisper-base"
