"""VoiceModality: one Evidence per segment, explicit 'no evidence', reliability, real speech."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from affectlens.core.errors import ModelError
from affectlens.core.labels import LABELS
from affectlens.core.types import MediaInfo, MediaKind, Segment
from affectlens.modalities.base import MODALITIES, AnalysisContext
from affectlens.modalities.voice import VoiceModality
from affectlens.modalities.voice.modality import reliability

SR = 16_000


def _media(duration: float) -> MediaInfo:
    return MediaInfo(path="x.wav", kind=MediaKind.AUDIO, duration=duration, has_audio=True, has_video=False)


def _ctx(audio: np.ndarray | None, segments: list[Segment]) -> AnalysisContext:
    dur = 0.0 if audio is None else len(audio) / SR
    return AnalysisContext(media=_media(dur), segments=segments, audio=audio)


def _voice(seconds: float, f0: float = 150.0, amp: float = 0.1) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    pitch = f0 * (1 + 0.15 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / SR
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.5
    return (amp * env * sum(np.sin(k * phase) / k for k in range(1, 15))).astype(np.float32)


@pytest.fixture(scope="module")
def modality() -> VoiceModality:
    m = VoiceModality()
    try:
        m._head()
        from affectlens.modalities.voice.whisper_encoder import load_encoder

        load_encoder()
    except ModelError as e:
        pytest.skip(f"voice models not available: {e}")
    return m


def test_registered_under_its_name() -> None:
    assert MODALITIES["voice"] is VoiceModality
    assert VoiceModality.name == "voice" and VoiceModality.frame_rate == 0


def test_no_audio_gives_missing_evidence_for_every_segment() -> None:
    segs = [Segment(i, i, i + 1.0, "vad") for i in range(3)]
    out = VoiceModality().evidence(_ctx(None, segs))
    assert [e.segment_index for e in out] == [0, 1, 2]
    assert all(not e.available and e.probs is None and e.reliability == 0 for e in out)


def test_silence_short_and_speech_segments(modality: VoiceModality) -> None:
    audio = np.concatenate([np.zeros(2 * SR, np.float32), _voice(3.0), np.zeros(SR, np.float32), _voice(0.2)])
    segs = [
        Segment(0, 0.0, 2.0, "vad"),  # silence
        Segment(1, 2.0, 5.0, "vad"),  # speech
        Segment(2, 6.0, 6.2, "vad"),  # 0.2 s: too short
        Segment(3, 9.0, 10.0, "vad"),  # beyond the end of the audio
    ]
    out = modality.evidence(_ctx(audio, segs))
    assert len(out) == 4
    assert [e.available for e in out] == [False, True, False, False]
    assert out[0].reason == "no speech in this segment"
    ev = out[1]
    assert set(ev.probs) == set(LABELS)
    assert sum(ev.probs.values()) == pytest.approx(1.0)
    assert 0 < ev.reliability <= 1
    assert ev.model == "voice-emotion" and ev.modality == "voice"
    assert -1 <= ev.valence <= 1
    names = [c.name for c in ev.cues]
    assert names[0].startswith("voice_emotion:") and "pitch_rel" in names
    assert "population" in (ev.reason or "")  # a single utterance has no speaker baseline


def test_clipped_and_long_segments_are_handled(modality: VoiceModality) -> None:
    clean = _voice(4.0)
    clipped = np.clip(clean * 30, -1, 1)
    long = _voice(65.0)  # longer than the encoder's 30 s window
    audio = np.concatenate([clean, clipped, long])
    segs = [Segment(0, 0, 4, "vad"), Segment(1, 4, 8, "vad"), Segment(2, 8, 73, "vad")]
    out = modality.evidence(_ctx(audio, segs))
    assert all(e.available for e in out)
    assert out[1].reliability < out[0].reliability
    assert any(c.name == "clipping" for c in out[1].cues)
    assert out[2].reliability > out[0].reliability  # more speech, more trust
    for e in out:
        assert all(math.isfinite(v) for v in e.probs.values())


def test_reliability_formula() -> None:
    assert reliability(0.3, 40, 0) < reliability(1.0, 40, 0) < reliability(3.0, 40, 0) <= 1
    assert reliability(3.0, 10, 0) < reliability(3.0, 25, 0)
    assert reliability(3.0, 40, 0.05) < reliability(3.0, 40, 0.0)
    assert reliability(3.0, 40, 0, scale=0.5) == pytest.approx(0.5 * reliability(3.0, 40, 0))


def _ravdess(root: Path, actor: int, emotion: str, n: int) -> list[Path]:
    import pandas as pd

    df = pd.read_csv(root / "speech" / "ravdess" / "labels.csv")
    rows = df[(df.actor == actor) & (df.emotion == emotion) & (df.intensity == "strong")].head(n)
    return [root / "speech" / "ravdess" / p for p in rows.path]


@pytest.mark.data
def test_real_speech_with_speaker_baseline(shared_data: Path, modality: VoiceModality) -> None:
    import soundfile as sf

    clips = [*_ravdess(shared_data, 3, "calm", 3), *_ravdess(shared_data, 3, "angry", 2)]
    audio, segs, t = [], [], 0.0
    for i, path in enumerate(clips):
        a, sr = sf.read(path, dtype="float32")
        assert sr == SR
        audio.append(a)
        segs.append(Segment(i, t, t + len(a) / SR, "vad", speaker="A"))
        t += len(a) / SR
    out = modality.evidence(_ctx(np.concatenate(audio), segs))
    assert all(e.available for e in out)
    assert not any("population" in (e.reason or "") for e in out)  # 5 utterances: a speaker baseline
    labels = [e.label for e in out]
    # The shipped head saw these actors in training: this checks the plumbing, not accuracy.
    assert labels[:3].count("neutral") >= 2 and labels[3:] == ["angry", "angry"]
    loud = [next(c for c in e.cues if c.name == "loudness_rel").value for e in out]
    assert min(loud[3:]) > max(loud[:3])  # angry clips are louder than this speaker's calm ones
    assert "this speaker's usual" in next(c for c in out[4].cues if c.name == "loudness_rel").description


def test_head_maps_calm_onto_neutral(modality: VoiceModality) -> None:
    head = modality._head()
    x = head.mean + head.scale * np.random.default_rng(0).standard_normal((3, head.mean.shape[0]))
    native = head.predict_native(x)
    shared = head.predict_shared(x)
    assert native.shape == (3, len(head.labels)) and shared.shape == (3, len(LABELS))
    np.testing.assert_allclose(native.sum(1), 1.0)
    np.testing.assert_allclose(
        shared[:, LABELS.index("neutral")],
        native[:, head.labels.index("neutral")] + native[:, head.labels.index("calm")],
    )
    with pytest.raises(ValueError, match="features"):
        head.logits(np.zeros((1, 3)))
