"""Bad and awkward input: every kind gets a result with explicit "no evidence" markers or a
one-line error, and a batch of all of them beside good files finishes the good ones.

The inputs are made on the spot from a real MER2023 clip (a face and speech) by
:mod:`affectlens.testing.awkward`; nothing is committed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from affectlens.batch import run_batch
from affectlens.core.errors import AffectlensError
from affectlens.pipeline import Pipeline
from affectlens.testing.awkward import KINDS, load_source, make_kinds

GOOD = ("sample_00000000.mp4", "sample_00000167.mp4")


@pytest.fixture(scope="module")
def awkward_batch(tmp_path_factory, shared_data):
    """All kinds and two good clips in one folder, analysed once as a batch."""
    folder = tmp_path_factory.mktemp("awkward")
    clips = shared_data / "video" / "mer2023_samples"
    make_kinds(folder, source=load_source(clips / GOOD[0]))
    for name in GOOD:
        shutil.copy(clips / name, folder / f"good_{name}")
    out = folder.parent / (folder.name + "_out")
    # Speech recognition is off here to keep the suite fast (whisper's fallback decodes of
    # short Chinese clips cost seconds each); benchmarks/reliability.py runs every kind with
    # the default options, each in its own process.
    with Pipeline(face_fps=5, asr=False) as pipeline:
        report = run_batch(pipeline, [folder], out, ["json"])
        again = run_batch(pipeline, [folder], out, ["json"])  # resumed: nothing is analysed again
    return folder, out, report, again


def _kind_outcomes(folder: Path, report) -> dict[str, str]:
    outcomes = {}
    for kind in KINDS:
        path = str(folder / kind.name)
        if path in report.done:
            outcomes[kind.name] = "result"
        elif path in report.failed:
            outcomes[kind.name] = "error"
    return outcomes


def test_at_least_thirty_kinds_each_as_expected(awkward_batch) -> None:
    folder, _, report, _ = awkward_batch
    assert not report.crashed, f"bugs, not bad input: {report.crashed}"
    files = [k for k in KINDS if (folder / k.name).is_file()]
    assert len(files) >= 30
    outcomes = _kind_outcomes(folder, report)
    wrong = {k.name: outcomes.get(k.name) for k in files if k.expect != "either" and outcomes.get(k.name) != k.expect}
    assert not wrong, f"unexpected outcomes: {wrong}"
    assert all(f"good_{n}" in " ".join(report.done) for n in GOOD)


def test_errors_are_one_line_and_name_the_file(awkward_batch) -> None:
    _, out, report, _ = awkward_batch
    assert report.failed
    for path, reason in report.failed.items():
        assert "\n" not in reason and path in reason and "Traceback" not in reason
        assert "Errno" not in reason  # FFmpeg's own words, not its error number
    assert set(json.loads((out / "errors.json").read_text())) == set(report.failed)


def test_results_say_why_a_modality_had_nothing(awkward_batch) -> None:
    """Silence, no face, no audio track...: each modality either has evidence or a reason."""
    folder, out, report, _ = awkward_batch
    for path in report.done:
        data = json.loads((out / f"{Path(path).stem}.json").read_text())
        if not data["utterances"]:
            assert data["warnings"], f"{path}: no utterance and no word why"
        for u in data["utterances"]:
            for name, ev in u["evidence"].items():
                assert ev["available"] or ev["reason"], f"{path}: {name} unavailable without a reason"
    silence = json.loads((out / "silence.json").read_text())
    assert all(not u["evidence"]["voice"]["available"] for u in silence["utterances"])
    no_face = json.loads((out / "no_face.json").read_text())
    assert all(u["evidence"]["face"]["reason"] == "no face visible" for u in no_face["utterances"])
    no_audio = json.loads((out / "video_without_audio.json").read_text())
    assert all(u["evidence"]["voice"]["reason"] == "no audio track" for u in no_audio["utterances"])


def test_resuming_redoes_nothing_and_lists_the_failures(awkward_batch) -> None:
    """A bad file is recorded once (manifest.jsonl) and not retried by every rerun: a corpus
    with a thousand broken files must not spend each resume failing on them again."""
    _, _, report, again = awkward_batch
    assert sorted(again.skipped) == sorted(report.done) and not again.done
    assert again.failed == report.failed and sorted(again.not_retried) == sorted(report.failed)


def test_a_folder_where_a_file_was_expected(tmp_path) -> None:
    folder = tmp_path / "clip.mp4"
    folder.mkdir()
    with pytest.raises(AffectlensError, match="is a folder"):
        Pipeline(modalities=("voice",))(folder)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "affectlens", *args], capture_output=True, text=True, timeout=300)


def _a_file(tmp: Path) -> Path:
    (tmp / "results.json").write_text("{}")
    return tmp / "results.json"


def _under_a_file(tmp: Path) -> Path:
    (tmp / "file").write_text("x")
    return tmp / "file" / "sub"


@pytest.mark.parametrize("make_out, expected", [(_a_file, "is a file"), (_under_a_file, "cannot be written")])
def test_unwritable_output_is_refused_before_decoding(tmp_path, demo_dir, make_out, expected) -> None:
    """The output folder is checked first: an hour's analysis must not end in 'cannot write'."""
    run = _cli("analyze", str(demo_dir / "single_face.mp4"), "--out", str(make_out(tmp_path)))
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], run.stderr


def test_missing_models_are_refused_before_decoding(tmp_path, demo_dir) -> None:
    """A model that is not there fails at once, naming it, not after the media is decoded."""
    from affectlens.core.errors import ModelError

    with pytest.raises(ModelError, match="no such folder"):
        Pipeline(modalities=("voice",), asr_model=str(tmp_path / "no-such-model"))(demo_dir / "single_face.mp4")
    (tmp_path / "empty-model").mkdir()
    with pytest.raises(ModelError, match="no model.bin"):
        Pipeline(modalities=("voice",), asr_model=str(tmp_path / "empty-model"))(demo_dir / "single_face.mp4")
    # A long-lived worker loads at start: the same refusal comes from load(), before any file.
    with pytest.raises(ModelError, match="no such folder"):
        Pipeline(modalities=("voice",), asr_model=str(tmp_path / "no-such-model")).load()
    # ... but only for a model these options can use: with subtitles there is no speech recognition.
    subs = tmp_path / "cues.srt"
    subs.write_text("1\n00:00:00,000 --> 00:00:01,000\nHello.\n")
    Pipeline(modalities=("voice",), asr_model=str(tmp_path / "no-such-model"), subtitles=str(subs)).load()
    from affectlens.modalities.voice.modality import VoiceModality

    with Pipeline(modalities=("voice",)) as pipeline:
        pipeline._instances["voice"] = VoiceModality(model=str(tmp_path / "no-such-head"))
        with pytest.raises(ModelError):
            pipeline(demo_dir / "single_face.mp4")
