"""One encoder pass for words and voice: stitched windows, the state store, and the ASR hook."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.core.errors import ModelError
from affectlens.modalities.voice.whisper_encoder import (
    BLOCK_STATES,
    STATES_PER_SECOND,
    EncoderStates,
    StitchedWindow,
    encode_windows,
    pack_windows,
    stitch,
)

SR = 16_000


def test_pack_windows_never_splits_a_span_and_cuts_long_ones() -> None:
    spans = [(0.0, 10.0), (12.0, 22.0), (30.0, 40.0), (50.0, 120.0)]
    windows = pack_windows(spans, max_seconds=25.0, gap=0.0)
    assert [w.chunks for w in windows[:2]] == [((0.0, 10.0), (12.0, 22.0)), ((30.0, 40.0),)]
    # 70 s span: cut into window-sized pieces, the first one fills the window it starts.
    rest = [c for w in windows[2:] for c in w.chunks]
    assert rest[0] == (30.0, 40.0) or rest[0][0] == 50.0
    assert all(w.duration <= 25.0 + 1e-9 for w in windows)
    covered = sum(e - s for w in windows for s, e in w.chunks)
    assert covered == pytest.approx(sum(e - s for s, e in spans))
    gapped = pack_windows(spans, max_seconds=25.0, gap=1.0)
    assert all(w.duration <= 25.0 + 1e-9 for w in gapped) and gapped[0].gap == 1.0


def test_window_time_maps_back_to_the_original() -> None:
    w = StitchedWindow(((2.0, 3.0), (10.0, 12.5)))
    assert w.duration == pytest.approx(3.5)
    assert w.to_original(0.0) == pytest.approx(2.0)
    assert w.to_original(0.5) == pytest.approx(2.5)
    assert w.to_original(1.5) == pytest.approx(10.5)
    assert w.to_original(3.5) == pytest.approx(12.5)
    assert w.to_original(99.0) == pytest.approx(12.5)
    gapped = StitchedWindow(((2.0, 3.0), (10.0, 12.5)), gap=0.5)
    assert gapped.offsets == pytest.approx((0.0, 1.5)) and gapped.duration == pytest.approx(4.0)
    assert gapped.to_original(1.2) == pytest.approx(10.0)  # in the gap: a start goes to the next chunk
    assert gapped.to_original(1.2, "end") == pytest.approx(3.0)  # an end stays with the chunk before
    assert gapped.to_original(2.0) == pytest.approx(10.5)


def test_stitch_levels_each_chunk() -> None:
    audio = np.zeros(4 * SR, np.float32)
    rng = np.random.default_rng(0)
    audio[:SR] = 0.001 * rng.standard_normal(SR)  # quiet speaker
    audio[2 * SR:3 * SR] = 0.3 * rng.standard_normal(SR)  # loud speaker
    out = stitch(audio, StitchedWindow(((0.0, 1.0), (2.0, 3.0))))
    assert len(out) == 2 * SR
    assert len(stitch(audio, StitchedWindow(((0.0, 1.0), (2.0, 3.0)), gap=0.25))) == 2 * SR + SR // 4
    a, b = np.sqrt(np.mean(out[:SR] ** 2)), np.sqrt(np.mean(out[SR:] ** 2))
    assert a == pytest.approx(b, rel=0.2)


def test_state_store_pools_only_inside_the_asked_span() -> None:
    # Synthetic "states": hidden state value = original time of the frame, so pooling a span
    # must give the span's mean time; layer k adds k.
    window = StitchedWindow(((1.0, 3.0), (7.0, 8.0)))
    n = int(window.duration * STATES_PER_SECOND)
    stitched_t = (np.arange(n) + 0.5) / STATES_PER_SECOND  # frame centres
    original = np.array([window.to_original(t) for t in stitched_t])
    states = [np.repeat((original + k)[:, None], 4, axis=1).astype(np.float32) for k in range(3)]
    store = EncoderStates()
    store.record(window, states)
    first = store.pooled(1.0, 3.0, (0, 2))
    assert first.shape == (8,)
    assert first[:4] == pytest.approx(2.0, abs=0.05) and first[4:] == pytest.approx(4.0, abs=0.05)
    second = store.pooled(7.0, 8.0, (1,))
    assert second == pytest.approx(np.full(4, 8.5), abs=0.05)
    assert store.pooled(4.0, 6.5, (0,)) is None  # the gap between chunks holds no states
    assert store.pooled(1.0, 3.0, (5,)) is None  # a layer the store never saw
    assert store.nbytes == (2 * STATES_PER_SECOND // BLOCK_STATES + STATES_PER_SECOND // BLOCK_STATES) * 3 * 4 * 2


@pytest.fixture(scope="module")
def encoder():
    """The encoder the pipeline runs (the int8 ONNX graph), which the ASR pass must also use."""
    from affectlens.modalities.voice.whisper_encoder import runtime_encoder

    try:
        return runtime_encoder()
    except ModelError as e:
        pytest.skip(f"whisper-base weights not installed: {e}")


def _voiced(seconds: float, f0: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.5 * t))) / SR
    env = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2
    return (0.1 * env * sum(np.sin(k * phase) / k for k in range(1, 12)) + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def test_asr_pass_keeps_the_states_the_voice_head_reads(encoder) -> None:
    """transcribe(states=...) must record exactly what encode_windows computes for the same spans."""
    from affectlens.segments.asr import load_whisper, transcribe
    from affectlens.segments.vad import SpeechRegion

    try:
        load_whisper()
    except ModelError as e:
        pytest.skip(f"whisper-base not installed: {e}")
    audio = np.concatenate([np.zeros(SR, np.float32), _voiced(2.0, 140, 1), np.zeros(SR, np.float32),
                            _voiced(1.5, 220, 2), np.zeros(SR, np.float32)])
    regions = [SpeechRegion(1.0, 3.0), SpeechRegion(4.0, 5.5)]
    from_asr = EncoderStates()
    transcribe(audio, regions, language="en", states=from_asr)
    assert from_asr.windows == 1
    direct = encode_windows(audio, [(1.0, 3.0), (4.0, 5.5)], EncoderStates(), encoder)
    for span in ((1.0, 3.0), (4.0, 5.5)):
        a, b = from_asr.pooled(*span, (2, 3, 4)), direct.pooled(*span, (2, 3, 4))
        assert a is not None and b is not None
        assert np.corrcoef(a, b)[0, 1] > 0.9999
    # Without a store, CTranslate2 encodes as usual and nothing is left behind on the model.
    transcribe(audio, regions, language="en")
    whisper = load_whisper()
    assert whisper._local.window is None and whisper._local.states is None


def _segment(words: list[tuple[str, float]], avg_logprob: float = -0.2, no_speech: float = 0.01):
    from types import SimpleNamespace

    ws = [SimpleNamespace(word=" " + w, start=t, end=t + 0.3) for w, t in words]
    return SimpleNamespace(words=ws, text=" ".join(w for w, _ in words), tokens=[0] * (2 * len(ws) + 1),
                           avg_logprob=avg_logprob, no_speech_prob=no_speech, start=words[0][1])


def test_same_sentence_in_separate_stretches_is_speech_not_a_loop() -> None:
    from faster_whisper.transcribe import get_compression_ratio

    from affectlens.segments.asr import decoding_doubt

    sentence = "Kids are talking by the door.".split()
    window = StitchedWindow(tuple((4.0 * k, 4.0 * k + 2.0) for k in range(8)))
    takes = [_segment([(w, off + 0.2 * i) for i, w in enumerate(sentence)]) for off in window.offsets]
    assert get_compression_ratio(" ".join(s.text for s in takes)) > 2.4  # what whisper would call a loop
    assert decoding_doubt(takes, window) is None

    # The decoder looping inside one stretch is still caught, and so are improbable tokens.
    loop = [_segment([(w, 0.01 * i) for i, w in enumerate(sentence * 8)])]
    assert "repeats itself" in decoding_doubt(loop, window)
    unsure = [_segment([(w, 0.2 * i) for i, w in enumerate(sentence)], avg_logprob=-1.6)]
    assert "log probability" in decoding_doubt(unsure, window)
    silence = [_segment([("you", 0.0)], avg_logprob=-1.6, no_speech=0.9)]
    assert decoding_doubt(silence, window) is None
