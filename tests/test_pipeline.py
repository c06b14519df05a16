"""End to end on real media: the whole chain, every bad input, every output format."""

from __future__ import annotations

import json

import pytest

import affectlens
from affectlens.batch import run_batch
from affectlens.core.errors import MediaError, SubtitleError
from affectlens.core.labels import LABELS
from affectlens.pipeline import AnalysisOptions, Pipeline
from affectlens.writers import WRITERS, get_writer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline(AnalysisOptions(face_fps=5.0))


@pytest.fixture(scope="module")
def mer_clip(shared_data, tmp_path_factory):
    """A MER2023 clip (Mandarin) with its English transcript as one subtitle cue."""
    clip = shared_data / "video" / "mer2023_samples" / "sample_00000727.mp4"
    srt = tmp_path_factory.mktemp("subs") / "sad.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:04,000\nSorry, I'm sorry, I apologize to you, to Daqiang.\n")
    return clip, srt


def test_video_with_subtitles_fuses_three_modalities(pipeline, mer_clip):
    clip, srt = mer_clip
    result = Pipeline(AnalysisOptions(face_fps=5.0, subtitles=str(srt)))(clip)
    assert len(result.utterances) == 1
    u = result.utterances[0]
    assert set(u.evidence) == {"face", "voice", "words"}
    assert all(ev.available for ev in u.evidence.values()), {k: v.reason for k, v in u.evidence.items()}
    assert u.fused.label in LABELS and sum(u.fused.probs.values()) == pytest.approx(1.0)
    assert sum(u.fused.contributions.values()) == pytest.approx(1.0)
    assert u.evidence["words"].label == "sad"  # "Sorry, I'm sorry, I apologize"
    assert u.explanation.text and u.explanation.cues  # cites measured cues
    frames = result.frames()
    assert len(frames) > 10 and frames["face_id"].nunique() >= 1
    table = result.to_pandas()
    assert {"face_sad", "voice_sad", "words_sad", "prob_sad", "explanation"} <= set(table.columns)


def test_video_without_subtitles_transcribes(pipeline, shared_data):
    result = pipeline(shared_data / "video" / "mer2023_samples" / "sample_00000338.mp4")
    assert result.utterances and result.utterances[0].segment.source == "vad"
    texts = [u.segment.text for u in result.utterances if u.segment.text]
    assert texts, "whisper should recognise the Mandarin speech"
    # Mandarin text is not evidence for the English text model, and says so
    words = result.utterances[-1].evidence["words"]
    assert not words.available and "English" in words.reason


def test_silent_video_without_face_gets_windows_and_no_evidence(pipeline, demo_dir):
    result = pipeline(demo_dir / "no_face.mp4")
    assert result.utterances and all(u.segment.source in ("window", "vad") for u in result.utterances)
    for u in result.utterances:
        assert not u.evidence["face"].available and u.evidence["face"].reason


def test_image_input(pipeline, demo_dir):
    result = pipeline(demo_dir / "multi_face.jpg")
    assert len(result.utterances) == 1 and result.utterances[0].segment.source == "image"
    assert result.frames()["face_id"].nunique() == 5
    assert not result.utterances[0].evidence["voice"].available


def test_transcript_input(tmp_path):
    csv = tmp_path / "chat.csv"
    csv.write_text("speaker,utterance\nA,I am so happy for you!\nB,This is terrible and I hate it.\n")
    result = affectlens.analyze(csv)
    assert [u.evidence["words"].label for u in result.utterances] == ["happy", "angry"] or \
        result.utterances[0].fused.label == "happy"
    assert list(result.utterances[0].evidence) == ["words"]


def test_analyze_text_api():
    result = affectlens.analyze_text(["Thank you so much, this is wonderful!", ""])
    assert result.utterances[0].fused.label == "happy"
    assert result.utterances[1].fused.no_evidence


@pytest.mark.parametrize("content", [b"", b"garbage" * 1000])
def test_bad_media_raises_clear_error(pipeline, tmp_path, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(MediaError):
        pipeline(bad)


def test_broken_subtitles_raise(tmp_path, demo_dir):
    srt = tmp_path / "broken.srt"
    srt.write_text("this is not\na subtitle file\n")
    with pytest.raises(SubtitleError):
        Pipeline(AnalysisOptions(subtitles=str(srt)))(demo_dir / "single_face.mp4")


def test_all_writers_and_json_schema(pipeline, demo_dir, tmp_path):
    result = pipeline(demo_dir / "single_face.mp4")
    for fmt in WRITERS:
        path = get_writer(fmt)(result, tmp_path)
        assert path.stat().st_size > 0
    data = json.loads((tmp_path / "single_face.json").read_text())
    assert data["schema_version"] == "2.0" and data["media"]["kind"] == "video"
    assert {"segment", "evidence", "fused", "explanation"} <= set(data["utterances"][0])
    html = (tmp_path / "single_face.html").read_text()
    assert "<svg" in html and "http" not in html.split("</style>")[0]  # self-contained
    assert "-->" in (tmp_path / "single_face.srt").read_text()


def test_batch_survives_a_bad_file_and_resumes(pipeline, demo_dir, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    out = tmp_path / "out"
    report = run_batch(pipeline, [demo_dir / "single_face.mp4", bad], out, ["json", "csv"])
    assert report.done == [str(demo_dir / "single_face.mp4")] and str(bad) in report.failed
    assert (out / "single_face.json").is_file() and (out / "errors.json").is_file()
    again = run_batch(pipeline, [demo_dir / "single_face.mp4", bad], out, ["json"])
    assert again.skipped == [str(demo_dir / "single_face.mp4")] and not again.done


@pytest.fixture(scope="module")
def two_voice_wav(shared_data, tmp_path_factory):
    """Four RAVDESS clips, actor 1 (male) and actor 2 (female) taking turns, 0.6 s apart.

    RAVDESS has two sentences; more turns make the window's text so repetitive that whisper's
    compression-ratio check treats it as a decoding loop and falls back to sampling."""
    import numpy as np
    import pandas as pd
    import soundfile as sf

    root = shared_data / "speech" / "ravdess"
    df = pd.read_csv(root / "labels.csv")
    parts = []
    for k in range(2):
        for actor in (1, 2):
            path = df[(df.actor == actor) & (df.vocal_channel == "speech")].path.iloc[4 * k + actor]
            parts += [sf.read(root / path, dtype="float32")[0], np.zeros(9600, np.float32)]
    out = tmp_path_factory.mktemp("audio") / "two_voices.wav"
    sf.write(out, np.concatenate(parts), 16_000)
    return out


def test_audio_without_subtitles_shares_the_encoder_pass_and_splits_speakers(two_voice_wav, monkeypatch):
    from affectlens.modalities.voice import whisper_encoder

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the voice modality encoded the audio again")

    monkeypatch.setattr(whisper_encoder, "encode_windows", no_second_pass)
    result = Pipeline(AnalysisOptions(modalities=("voice", "words"), language="en"))(two_voice_wav)
    spoken = [u for u in result.utterances if u.segment.text]
    assert len(spoken) >= 3 and all(u.segment.source == "vad" for u in result.utterances)
    assert any("door" in u.segment.text.lower() for u in spoken)  # RAVDESS: "... by the door"
    assert all(u.evidence["voice"].available for u in spoken)
    speakers = [u.segment.speaker for u in spoken]
    assert all(speakers) and len(set(speakers)) >= 2
    assert any("estimated from the voice" in w for w in result.warnings)


def _threads_and_rss() -> tuple[int, float]:
    import os

    with open("/proc/self/statm") as fh:
        rss_mb = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    return len(os.listdir("/proc/self/task")), rss_mb


def test_reused_pipeline_stays_flat(demo_dir):
    """Ten analyses on one Pipeline leave no threads or memory behind (MediaPipe graphs are
    opened once per pipeline, not once per call). The first two calls are warm-up."""
    pipeline = Pipeline(AnalysisOptions(face_fps=2.0))
    media = [demo_dir / "WolfgangLanger_Pexels.mp4", demo_dir / "multi_face.jpg"]
    for path in media:
        pipeline(path)
    threads0, rss0 = _threads_and_rss()
    for i in range(10):
        result = pipeline(media[i % 2])
        assert result.utterances
    threads1, rss1 = _threads_and_rss()
    assert threads1 - threads0 <= 2, (threads0, threads1)
    assert rss1 - rss0 <= 50, (rss0, rss1)
    pipeline.close()
    assert pipeline(media[1]).frames()["face_id"].nunique() == 5  # reopens what close() freed


def test_subtitles_are_refused_before_decoding(tmp_path, pexels_clip, monkeypatch):
    """A broken subtitle file is reported at once, without decoding the video first."""
    import affectlens.pipeline as pipeline_module

    bad = tmp_path / "broken.srt"
    bad.write_text("this is not a subtitle file\n")

    def no_decoding(*args, **kwargs):
        raise AssertionError("the media was decoded before the subtitles were checked")

    monkeypatch.setattr(pipeline_module, "decode", no_decoding)
    monkeypatch.setattr(pipeline_module, "decode_ahead", no_decoding)
    with pytest.raises(SubtitleError):
        Pipeline(AnalysisOptions(subtitles=str(bad)))(pexels_clip)


def test_load_opens_every_model_before_the_first_file():
    """``load()`` (what a corpus worker calls at start) opens what the first file would: the
    face graphs and classifier, the voice encoder, the text model; speech recognition only when
    asked for. The loaders are cached, so the file that follows finds them loaded."""
    from affectlens.modalities.voice.whisper_encoder import runtime_encoder
    from affectlens.modalities.words.predict import load_predictor

    pipeline = Pipeline(AnalysisOptions(threads=1)).load(speech_recognition=False)
    face = pipeline.modality("face")
    assert face._detector is not None and face._mesher is not None and face._classifier is not None
    assert runtime_encoder.cache_info().currsize == 1
    assert load_predictor.cache_info().currsize >= 1
    pipeline.close()
