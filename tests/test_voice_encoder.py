"""The numpy whisper encoder: the CTranslate2 reader, the forward pass against CTranslate2, chunking."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from affectlens.core.errors import ModelError
from affectlens.modalities.voice.whisper_encoder import (
    MAX_MEL_FRAMES,
    load_encoder,
    read_ctranslate2_variables,
)


def _write_string(fh, text: str) -> None:
    fh.write(struct.pack("<H", len(text) + 1))
    fh.write(text.encode() + b"\0")


def _write_ct2(path: Path, variables: list[tuple[str, np.ndarray, int]]) -> None:
    """A minimal CTranslate2 v6 model.bin (dtype ids: 0 float32, 1 int8, 4 float16)."""
    with open(path, "wb") as fh:
        fh.write(struct.pack("<I", 6))
        _write_string(fh, "TestSpec")
        fh.write(struct.pack("<I", 1))
        fh.write(struct.pack("<I", len(variables)))
        for name, arr, dtype_id in variables:
            _write_string(fh, name)
            fh.write(struct.pack("<B", arr.ndim))
            for dim in arr.shape:
                fh.write(struct.pack("<I", dim))
            fh.write(struct.pack("<B", dtype_id))
            data = arr.tobytes()
            fh.write(struct.pack("<I", len(data)))
            fh.write(data)
        fh.write(struct.pack("<I", 0))


def test_reader_decodes_float16_int8_and_skips_other_prefixes(tmp_path: Path) -> None:
    w16 = np.arange(6, dtype=np.float16).reshape(2, 3) / 4
    w8 = np.array([[10, -20], [30, 40]], dtype=np.int8)
    scale = np.array([10.0, 20.0], dtype=np.float32)
    path = tmp_path / "model.bin"
    _write_ct2(path, [
        ("decoder/x", np.ones(4, np.float32), 0),
        ("encoder/a", w16, 4),
        ("encoder/q", w8, 1),
        ("encoder/q_scale", scale, 0),
    ])
    out = read_ctranslate2_variables(path, prefix="encoder/")
    assert set(out) == {"encoder/a", "encoder/q"}
    assert out["encoder/a"].dtype == np.float32
    np.testing.assert_allclose(out["encoder/a"], w16.astype(np.float32))
    np.testing.assert_allclose(out["encoder/q"], [[1.0, -2.0], [1.5, 2.0]])


def test_reader_rejects_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    _write_ct2(path, [("encoder/a", np.ones((4, 4), np.float32), 0)])
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ModelError):
        read_ctranslate2_variables(path, prefix="encoder/")


@pytest.fixture(scope="module")
def encoder():
    try:
        return load_encoder()
    except ModelError as e:
        pytest.skip(f"whisper-base weights not available: {e}")


def _voice_like(seconds: float, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """Harmonic tone with syllable-rate amplitude modulation and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16_000)) / 16_000
    pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / 16_000
    tone = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2
    return (0.1 * tone * env + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def test_final_layer_matches_ctranslate2(encoder) -> None:
    ctranslate2 = pytest.importorskip("ctranslate2")
    from affectlens.models.registry import external_path

    mel = encoder.log_mel(_voice_like(3.0))
    mel = np.ascontiguousarray(mel[:, : mel.shape[1] // 2 * 2])
    model = ctranslate2.models.Whisper(str(external_path("whisper-base")), device="cpu", compute_type="float32")
    ref = np.array(model.encode(ctranslate2.StorageView.from_array(mel[None]), to_cpu=True))[0]
    states = encoder.hidden_states(mel)
    assert len(states) == encoder.num_layers + 2
    assert states[-1].shape == ref.shape == (mel.shape[1] // 2, encoder.width)
    assert np.corrcoef(ref.ravel(), states[-1].ravel())[0, 1] > 0.9999
    # tanh-form GELU (see _gelu): small per-value differences, relative to values up to ~20.
    assert np.abs(ref - states[-1]).mean() < 0.01 * ref.std()
    assert np.abs(ref - states[-1]).max() < 0.05 * np.abs(ref).max()


def test_load_is_cached(encoder) -> None:
    assert load_encoder() is encoder


def test_pooled_handles_long_and_tiny_audio(encoder) -> None:
    long = _voice_like(65.0)  # three 30 s chunks, the last one 5 s
    vec = encoder.pooled(long, (2, 3))
    assert vec.shape == (2 * encoder.width,)
    assert np.isfinite(vec).all()
    # A chunked mean over a stationary signal stays close to the mean over one 30 s chunk.
    first = encoder.pooled(long[: 30 * 16_000], (2, 3))
    assert np.corrcoef(vec, first)[0, 1] > 0.99
    tiny = encoder.pooled(np.zeros(100, np.float32), (2,))
    assert np.isfinite(tiny).all()


def test_hidden_states_rejects_over_30s(encoder) -> None:
    with pytest.raises(ValueError, match="30 s"):
        encoder.hidden_states(np.zeros((encoder.n_mels, MAX_MEL_FRAMES + 2), np.float32))


def test_onnx_graph_matches_the_numpy_encoder(encoder, tmp_path) -> None:
    """The ONNX graph computes what the numpy reference computes: exactly in float32, and
    within int8 quantisation noise for the int8 graph the pipeline runs."""
    from affectlens.modalities.voice.encoder_onnx import OnnxWhisperEncoder, build
    from affectlens.models.registry import external_path

    rng = np.random.default_rng(0)
    t = np.arange(3 * 16_000) / 16_000
    audio = (0.2 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t))
             + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    mel = encoder.log_mel(audio)[:, :300]
    reference = encoder.hidden_states(mel)
    model_bin = external_path("whisper-base") / "model.bin"
    exact = OnnxWhisperEncoder(build(model_bin, tmp_path / "float.onnx", quantize=False))
    assert (exact.num_layers, exact.width, exact.n_mels) == (encoder.num_layers, encoder.width, encoder.n_mels)
    for a, b in zip(reference, exact.hidden_states(mel), strict=True):
        assert a.shape == b.shape
        assert np.abs(a - b).max() < 1e-3 * max(1.0, np.abs(a).max())
    int8 = OnnxWhisperEncoder(build(model_bin, tmp_path / "int8.onnx"))
    pooled_ref = encoder.pooled(audio, (2, 3, 4, 5))
    pooled_int8 = int8.pooled(audio, (2, 3, 4, 5))
    assert np.corrcoef(pooled_ref, pooled_int8)[0, 1] > 0.95
    with pytest.raises(ValueError):
        int8.hidden_states(mel[:, :1])
