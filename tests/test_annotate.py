"""Tests of the MERR-style annotator: record building, resumability, failure isolation.

Most tests inject a fake ``analyze`` (dependency injection: ``annotate(..., analyze=fake)``)
returning hand-built results, so every expected value is known; one end-to-end test runs the
real pipeline on MER2023 clips with their English transcripts as subtitles.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import pytest
from llm_stub import reply

from affectlens.core.errors import MediaError, ParameterError
from affectlens.core.labels import LABELS
from affectlens.core.types import (
    Cue,
    Evidence,
    Explanation,
    FaceObservation,
    FusedPrediction,
    MediaInfo,
    MediaKind,
    Segment,
    Utterance,
)
from affectlens.research import annotate_cli
from affectlens.research.annotate import STATE_FILE, annotate
from affectlens.research.merr import RecordOptions, agreement_score, build_record, clip_votes

MERR_KEYS = ["AU_list", "visual_prior_list", "audio_prior_list", "peak_index", "peak_AU_list",
             "pseu_emotion", "text", "smp_reason_caption"]


def _probs(label: str, p: float) -> dict[str, float]:
    rest = (1 - p) / (len(LABELS) - 1)
    return {k: (p if k == label else rest) for k in LABELS}


def _evidence(modality: str, label: str | None, p: float = 0.8) -> Evidence:
    if label is None:
        return Evidence.missing(modality, 0, "nothing to look at")
    return Evidence(modality, 0, True, _probs(label, p), reliability=1.0,
                    cues=(Cue(modality, f"{modality}_cue", 1.0, "a cue", 1.0),))


class FakeResult:
    """Just what the annotator reads of an ``affectlens.Result``."""

    def __init__(self, path: str, fused: str, face: str | None, voice: str | None, words: str | None,
                 text: str = "I lost it all.", observations: list[FaceObservation] | None = None):
        self.media = MediaInfo(path=path, kind=MediaKind.VIDEO, duration=3.0, has_audio=True, has_video=True)
        evidence = {"face": _evidence("face", face, 0.6), "voice": _evidence("voice", voice, 0.9),
                    "words": _evidence("words", words, 0.7)}
        self.utterances = [Utterance(
            Segment(0, 0.0, 3.0, "subtitles", text=text), evidence,
            FusedPrediction(fused, _probs(fused, 0.7), -0.5, 0.1, {"voice": 1.0}), Explanation("because"))]
        self.observations = observations if observations is not None else [
            FaceObservation(i, i * 0.5, 0, (0, 0, 10, 10), 0.9,
                            aus={"AU01": 0.2, "AU04": 2.0 + i, "AU15": 1.5, "AU12": 0.1 if i != 2 else 3.0})
            for i in range(4)
        ] + [FaceObservation(0, 0.0, 1, (50, 0, 10, 10), 0.5, aus={"AU12": 5.0})]  # a passer-by

    def frames(self) -> pd.DataFrame:
        rows = [{"time": o.time, "frame_index": o.frame_index, "face_id": o.face_id, **o.aus}
                for o in self.observations]
        return pd.DataFrame(rows, columns=None if rows else ["time", "frame_index", "face_id"])


def test_build_record_from_frames_and_votes():
    rec = build_record("clip", FakeResult("clip.mp4", "sad", face="sad", voice="sad", words="neutral"))
    merr = rec.to_merr()
    assert list(merr)[:8] == MERR_KEYS
    # main face (id 0): mean AU04 = 3.5, AU15 = 1.5, AU12 = 0.825, AU01 = 0.2 -> two AUs pass 1.0
    assert merr["AU_list"] == ["AU04", "AU15"]
    assert merr["visual_prior_list"] == ["Brow Lowerer", "Lip Corner Depressor"]
    # no expression probabilities: the peak is the frame with the largest AU sum (index 2: 4+1.5+.2+3)
    assert merr["peak_index"] == "2" and merr["peak_AU_list"] == ["AU04", "AU12", "AU15"]
    assert merr["pseu_emotion"] == "sad" and merr["text"] == "I lost it all."
    assert merr["audio_prior_list"] == "speaks in a sad tone."
    assert merr["agreement"] == pytest.approx((0.6 + 0.9) / (0.6 + 0.9 + 0.7), abs=1e-4)
    assert "Brow Lowerer (AU04)".lower() in merr["smp_reason_caption"].lower()
    assert "words (neutral)" in merr["smp_reason_caption"]


def test_peak_uses_expression_probabilities_when_present():
    obs = [FaceObservation(i, i * 0.2, 0, (0, 0, 1, 1), 0.9, aus={"AU06": 2.0, "AU12": 2.0 if i == 1 else 0.0},
                           expression=_probs("happy", 0.9 if i == 2 else 0.3)) for i in range(3)]
    res = FakeResult("c.mp4", "happy", face="happy", voice=None, words=None, observations=obs)
    res.frames = lambda: pd.DataFrame([{"time": o.time, "frame_index": o.frame_index, "face_id": o.face_id,
                                        **o.aus, **{f"expr_{k}": v for k, v in o.expression.items()}}
                                       for o in obs])
    rec = build_record("c", res)
    assert rec.peak_index == "2" and rec.peak_time == pytest.approx(0.4)
    assert rec.audio_prior_list == "does not speak audibly."
    assert rec.agreement == 1.0


def test_record_without_face_or_evidence():
    res = FakeResult("c.mp4", "neutral", face=None, voice=None, words=None, observations=[])
    res.utterances = [Utterance(res.utterances[0].segment, res.utterances[0].evidence,
                                FusedPrediction("unknown", {}, 0.0, 0.0, {}, no_evidence=True), Explanation(""))]
    rec = build_record("c", res)
    assert rec.pseu_emotion == "unknown" and rec.agreement == 0.0
    assert rec.AU_list == () and rec.peak_index == "" and rec.peak_AU_list == ()


def test_agreement_score():
    _, votes = clip_votes(FakeResult("c", "sad", "happy", "sad", "sad").utterances)
    assert agreement_score("sad", votes) == pytest.approx((0.9 + 0.7) / (0.6 + 0.9 + 0.7))
    assert agreement_score("sad", ()) == 0.0


def test_record_options_threshold():
    rec = build_record("c", FakeResult("c", "sad", "sad", "sad", "sad"), RecordOptions(au_threshold=0.5, max_aus=1))
    assert rec.AU_list == ("AU04",)


# ---------------------------------------------------------------------------- batch runner
def _clips(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / f"{n}.mp4").write_bytes(b"not really a video")
    (folder / "notes.txt").write_text("ignored")
    return folder


class FakeAnalyze:
    """Records calls; clips named ``bad*`` raise, others get a label from their name."""

    def __init__(self, interrupt_on: str | None = None):
        self.calls: list[tuple[str, str | None]] = []
        self.interrupt_on = interrupt_on

    def __call__(self, path, subtitles=None):
        path = Path(path)
        self.calls.append((path.stem, None if subtitles is None else Path(subtitles).name))
        if path.stem == self.interrupt_on:
            raise KeyboardInterrupt
        if path.stem.startswith("bad"):
            raise MediaError(f"{path.name}: moov atom not found")
        agree = path.stem.startswith("agree")
        return FakeResult(str(path), "happy", "happy", "happy", "happy" if agree else "sad")


def test_annotate_writes_outputs_isolates_failures_and_resumes(tmp_path):
    videos = _clips(tmp_path / "in", ["agree1", "bad1", "mixed1"])
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "agree1.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    out = tmp_path / "out"
    fake = FakeAnalyze()
    summary = annotate([videos], out, analyze=fake, subtitles_dir=subs, progress=False)
    assert sorted(c for c, _ in fake.calls) == ["agree1", "bad1", "mixed1"]
    assert ("agree1", "agree1.srt") in fake.calls and ("mixed1", None) in fake.calls
    assert summary.failed == ("bad1",) and summary.kept == ("agree1", "mixed1")
    merr = json.loads((out / "merr.json").read_text())
    assert set(merr) == {"agree1", "mixed1"}
    assert all(list(r)[:8] == MERR_KEYS for r in merr.values())
    assert merr["agree1"]["agreement"] == 1.0 and merr["mixed1"]["agreement"] < 1.0
    lines = [json.loads(line) for line in (out / "instructions.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == ["agree1", "mixed1"]
    assert lines[0]["conversations"][0]["from"] == "human" and "<video>" in lines[0]["conversations"][0]["value"]
    assert lines[0]["conversations"][1]["value"].startswith("happy. ")
    state = json.loads((out / STATE_FILE).read_text())
    assert state["clips"]["bad1"]["status"] == "failed" and "moov atom" in state["clips"]["bad1"]["error"]

    # rerun: nothing is analysed again; a stricter threshold re-filters from the saved state
    fake2 = FakeAnalyze()
    summary = annotate([videos], out, analyze=fake2, min_agreement=0.9, progress=False)
    assert fake2.calls == [] and summary.skipped == 3
    assert summary.kept == ("agree1",) and summary.filtered == ("mixed1",)
    assert set(json.loads((out / "merr.json").read_text())) == {"agree1"}
    # retry_failed analyses only the failed clip again
    fake3 = FakeAnalyze()
    annotate([videos], out, analyze=fake3, retry_failed=True, progress=False)
    assert [c for c, _ in fake3.calls] == ["bad1"]


def test_interrupted_batch_keeps_finished_work(tmp_path):
    videos = _clips(tmp_path / "in", ["agree1", "agree2", "agree3"])
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        annotate([videos], out, analyze=FakeAnalyze(interrupt_on="agree2"), progress=False)
    assert set(json.loads((out / "merr.json").read_text())) == {"agree1"}
    fake = FakeAnalyze()
    summary = annotate([videos], out, analyze=fake, progress=False)
    assert [c for c, _ in fake.calls] == ["agree2", "agree3"]
    assert summary.kept == ("agree1", "agree2", "agree3")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_annotate_parameter_errors(tmp_path):
    with pytest.raises(ParameterError, match="neither"):
        annotate([tmp_path / "missing"], tmp_path / "o", analyze=FakeAnalyze())
    with pytest.raises(ParameterError, match="no video"):
        annotate([_clips(tmp_path / "empty", [])], tmp_path / "o", analyze=FakeAnalyze())
    with pytest.raises(ParameterError, match="min_agreement"):
        annotate([tmp_path], tmp_path / "o", analyze=FakeAnalyze(), min_agreement=2)
    out = tmp_path / "broken"
    out.mkdir()
    (out / STATE_FILE).write_text("{not json")
    with pytest.raises(ParameterError, match="cannot resume"):
        annotate([_clips(tmp_path / "in", ["a"])], out, analyze=FakeAnalyze())


def test_records_match_reference_merr_types(shared_data, tmp_path):
    ref = json.loads((shared_data / "annotations" / "merr" / "MERR_fine_grained.json").read_text())
    sample = next(iter(ref.values()))
    rec = build_record("c", FakeResult("c.mp4", "sad", "sad", "sad", "sad")).to_merr()
    for key in MERR_KEYS:
        assert type(rec[key]) is type(sample[key]), key


# ---------------------------------------------------------------------------- reasoning captions
# The language model is a stub server (tests/llm_stub.py): the annotator's own logic (which
# records are sent, resuming, saving as captions arrive) is under test, not a model; the real
# server's side is covered by test_llm.py and benchmarks/reasoning.py.
FAITHFUL = ("The Brow Lowerer (AU04) and the Lip Corner Depressor (AU15) are visible, and the cheerful tone of "
            "voice points to happiness.")


def test_reasoning_captions_checked_resumed_and_parallel(tmp_path, stub_factory):
    from affectlens.explain.llm import LLMConfig

    def answer(h, body, n):
        time.sleep(0.2)
        prompt = body["messages"][-1]["content"]
        reply(h, "The person is angry because of her job (AU26)." if "words sad" in prompt else FAITHFUL)

    stub = stub_factory(answer)
    videos = _clips(tmp_path / "in", ["s1", "s2", "s3", "agree1"])
    out = tmp_path / "out"
    fake = FakeAnalyze()
    annotate([videos], out, analyze=fake, progress=False)  # first without a model: template captions
    assert json.loads((out / "merr.json").read_text())["s1"]["caption_source"] == "template"

    fake.calls.clear()
    cfg = LLMConfig(stub.url, "m1", concurrency=2, open_vocabulary=False)
    summary = annotate([videos], out, analyze=fake, progress=False, llm=cfg)
    assert fake.calls == []  # resumed: captions written without analysing again
    assert summary.captions == {"accepted": 1, "rejected": 3} and stub.max_active == 2
    merr = json.loads((out / "merr.json").read_text())
    assert merr["agree1"]["smp_reason_caption"] == FAITHFUL and merr["agree1"]["caption_source"] == "llm"
    assert merr["agree1"]["caption_model"] == "m1" and merr["agree1"]["caption_status"] == "accepted"
    mixed = merr["s1"]  # the stub's answer for it invents anger, a job and AU26
    assert mixed["caption_source"] == "template" and mixed["caption_status"] == "rejected"
    assert "AU26" in mixed["caption_rejected"] and mixed["caption_rejected_text"].startswith("The person is angry")
    assert mixed["smp_reason_caption"].startswith("In the video")
    lines = [json.loads(x) for x in (out / "instructions.jsonl").read_text().splitlines()]
    assert any(FAITHFUL in x["conversations"][1]["value"] for x in lines)

    sent = len(stub.requests)
    summary = annotate([videos], out, analyze=fake, progress=False, llm=cfg)
    assert len(stub.requests) == sent and summary.captions == {}  # a rerun sends nothing again


def test_failed_captions_are_sent_again_on_the_next_run(tmp_path, stub_factory):
    from affectlens.explain.llm import LLMConfig

    hanging = stub_factory()  # accepts, never answers
    videos = _clips(tmp_path / "in", ["agree1"])
    out = tmp_path / "out"
    t0 = time.monotonic()
    summary = annotate([videos], out, analyze=FakeAnalyze(), progress=False,
                       llm=LLMConfig(hanging.url, "m1", timeout=0.5))
    assert time.monotonic() - t0 < 5 and summary.captions == {"failed": 1}
    rec = json.loads((out / "merr.json").read_text())["agree1"]
    assert rec["caption_status"] == "failed" and rec["caption_rejected"].startswith("timeout")
    good = stub_factory(lambda h, b, n: reply(h, FAITHFUL))
    summary = annotate([videos], out, analyze=FakeAnalyze(), progress=False, llm=LLMConfig(good.url, "m1"))
    assert summary.captions == {"accepted": 1}
    assert json.loads((out / "merr.json").read_text())["agree1"]["smp_reason_caption"] == FAITHFUL


# ---------------------------------------------------------------------------- real pipeline
def _analyze_or_skip():
    try:
        import affectlens
        return affectlens.analyze
    except (ImportError, AttributeError) as e:
        pytest.skip(f"affectlens.analyze is not available yet ({e})")


def test_annotate_real_mer2023_clips(shared_data, tmp_path, capsys):
    _analyze_or_skip()
    folder = shared_data / "video" / "mer2023_samples"
    labels = pd.read_csv(folder / "labels.csv")
    subs = tmp_path / "subs"
    subs.mkdir()
    chosen = labels[labels["file"].isin(["sample_00000338.mp4", "sample_00000694.mp4"])]
    for _, row in chosen.iterrows():  # Mandarin audio: the English transcript is the subtitle
        (subs / f"{Path(row['file']).stem}.srt").write_text(
            f"1\n00:00:00,000 --> 00:01:00,000\n{row['transcript_en']}\n", encoding="utf-8")
    out = tmp_path / "out"
    parser = argparse.ArgumentParser()
    annotate_cli.add_arguments(parser)
    args = parser.parse_args([*(str(folder / f) for f in chosen["file"]), "--out", str(out),
                              "--subtitles-dir", str(subs), "--no-progress"])
    assert annotate_cli.run(args) == 0
    merr = json.loads((out / "merr.json").read_text())
    assert set(merr) == {"sample_00000338", "sample_00000694"}
    for name, rec in merr.items():
        assert list(rec)[:8] == MERR_KEYS
        assert rec["pseu_emotion"] in (*LABELS, "unknown")
        assert 0.0 <= rec["agreement"] <= 1.0
        assert rec["text"] == chosen.set_index(chosen["file"].str[:-4]).loc[name, "transcript_en"]
        assert rec["peak_index"].isdigit()
    assert len((out / "instructions.jsonl").read_text().splitlines()) == 2
    assert "analysed 2 clip(s)" in capsys.readouterr().out
    # a rerun finishes at once: both clips are skipped
    assert annotate_cli.run(args) == 0
    assert "skipped 2 already finished" in capsys.readouterr().out
