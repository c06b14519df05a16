"""The whisper-base encoder as an ONNX graph with every hidden state as an output.

Why: one encoder pass serves both speech recognition (CTranslate2 decodes from the last layer)
and the voice model (which pools the middle layers), and the numpy float32 encoder of
:mod:`.whisper_encoder` spent most of the audio branch's time. The same weights, read from the
pip-installed CTranslate2 ``model.bin``, are written into an ONNX graph here — the same
operations as :meth:`WhisperEncoder.hidden_states`, GELU in its tanh form included, so the
float32 graph gives the numpy encoder's numbers (the voice head was trained on them) at about
1.4x its speed on one thread. ``quantize=True`` builds an int8 variant with onnxruntime's
dynamic quantisation (int8 weights, activations quantised per tensor on the fly; attention's
activation-by-activation products stay in float): 2.7x the numpy speed, but measured
(``benchmarks/voice_int8.py``) it costs the float-trained voice head 2 points and sends
whisper's greedy decoding of repetitive speech into loops that fall back to sampling, so the
pipeline runs the float32 graph. Graphs are derived, not shipped: built once per machine into
the cache (82 MB float, 26 MB int8; a few seconds), keyed by the source weights' sha256 and
:data:`GRAPH_VERSION`.

Inputs and outputs: ``mel`` ``[80, frames]`` (frames <= 3000) -> ``state_0`` .. ``state_6``
(``[ceil(frames / 2), 512]``) and ``final`` (the layer-normed last state, what CTranslate2's
``encode()`` returns).
"""

from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...core.errors import ModelError
from ...core.threads import current_threads
from .whisper_encoder import MAX_MEL_FRAMES, EncoderBase

log = logging.getLogger(__name__)

#: Bump when the graph changes; part of the cached file's name.
GRAPH_VERSION = 3
OPSET = 17
#: Attention is computed for this many queries at a time. A 30 s window's full score matrix
#: (8 heads x 1500 x 1500 floats) is 72 MB, and the product, its scaled copy and its softmax
#: briefly coexist: the encoder's peak was +270 MB, the largest transient of a long analysis.
#: In slices of 250 queries the same arithmetic peaks at a sixth of that.
QUERY_CHUNK = 250


def build_graph(weights: dict[str, np.ndarray]):
    """An ONNX ``ModelProto`` of the whisper encoder from CTranslate2 variables (float32)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    counter = [0]

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], **attrs) -> str:
        counter[0] += 1
        out = f"{op.lower()}_{counter[0]}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def gelu(x: str) -> str:  # tanh form, as WhisperEncoder._gelu
        cube = node("Mul", [node("Mul", [x, x]), x])
        inner = node("Mul", [node("Add", [x, node("Mul", [cube, "c_0044715"])]), "c_sqrt2pi"])
        return node("Mul", [node("Mul", [x, "c_half"]), node("Add", [node("Tanh", [inner]), "c_one"])])

    def linear(x: str, name: str) -> str:
        w = const(name + "/weight_t", weights[name + "/weight"].T.astype(np.float32))
        return node("Add", [node("MatMul", [x, w]), const(name + "/bias", weights[name + "/bias"])])

    def layer_norm(x: str, name: str) -> str:
        return node("LayerNormalization", [x, const(name + "/gamma", weights[name + "/gamma"]),
                                           const(name + "/beta", weights[name + "/beta"])], axis=-1, epsilon=1e-5)

    try:
        heads = int(weights["encoder/num_heads"])
        width = int(weights["encoder/conv1/bias"].shape[0])
        n_mels = int(weights["encoder/conv1/weight"].shape[1])
        for name, value in (("c_0044715", 0.044715), ("c_sqrt2pi", 0.7978845608028654), ("c_half", 0.5),
                            ("c_one", 1.0), ("c_scale", (width // heads) ** -0.5)):
            const(name, np.array(value, np.float32))
        const("shape_heads", np.array([0, heads, width // heads], np.int64))
        const("shape_flat", np.array([0, width], np.int64))
        const("axis0", np.array([0], np.int64))
        const("axis1", np.array([1], np.int64))
        for a in range(0, MAX_MEL_FRAMES // 2, QUERY_CHUNK):
            const(f"q_from_{a}", np.array([a], np.int64))
            const(f"q_to_{a}", np.array([a + QUERY_CHUNK], np.int64))
        const("zero", np.array([0], np.int64))
        mel = node("Unsqueeze", ["mel", "axis0"])
        x = gelu(node("Conv", [mel, const("conv1/w", weights["encoder/conv1/weight"]),
                               const("conv1/b", weights["encoder/conv1/bias"])], pads=[1, 1]))
        x = gelu(node("Conv", [x, const("conv2/w", weights["encoder/conv2/weight"]),
                               const("conv2/b", weights["encoder/conv2/bias"])], pads=[1, 1], strides=[2]))
        x = node("Squeeze", [node("Transpose", [x], perm=[0, 2, 1]), "axis0"])  # [T, width]
        length = node("Slice", [node("Shape", [x]), "zero", node("Constant", [], value_ints=[1])])
        pos = node("Slice", [const("positions", weights["encoder/position_encodings/encodings"]), "zero", length])
        x = node("Add", [x, pos])
        outputs = [node("Identity", [x])]
        i = 0
        while f"encoder/layer_{i}/ffn/linear_0/weight" in weights:
            p = f"encoder/layer_{i}/"
            h = layer_norm(x, p + "self_attention/layer_norm")
            qkv = linear(h, p + "self_attention/linear_0")
            q, k, v = (f"{p}{s}" for s in "qkv")
            nodes.append(helper.make_node("Split", [qkv], [q, k, v], axis=1))  # opset 17: equal thirds
            q, k, v = (node("Transpose", [node("Reshape", [t, "shape_heads"])], perm=[1, 0, 2]) for t in (q, k, v))
            k_t = node("Transpose", [k], perm=[0, 2, 1])
            parts = []
            for a in range(0, MAX_MEL_FRAMES // 2, QUERY_CHUNK):  # see QUERY_CHUNK
                q_part = node("Slice", [q, f"q_from_{a}", f"q_to_{a}", "axis1"])
                scores = node("Mul", [node("MatMul", [q_part, k_t]), "c_scale"])
                parts.append(node("MatMul", [node("Softmax", [scores], axis=-1), v]))
            ctx = node("Reshape", [node("Transpose", [node("Concat", parts, axis=1)], perm=[1, 0, 2]), "shape_flat"])
            x = node("Add", [x, linear(ctx, p + "self_attention/linear_1")])
            h = gelu(linear(layer_norm(x, p + "ffn/layer_norm"), p + "ffn/linear_0"))
            x = node("Add", [x, linear(h, p + "ffn/linear_1")])
            outputs.append(node("Identity", [x]))
            i += 1
        outputs.append(layer_norm(x, "encoder/layer_norm"))
    except KeyError as e:
        raise ModelError(f"the CTranslate2 model has no whisper encoder variable {e}") from e
    names = [f"state_{j}" for j in range(len(outputs) - 1)] + ["final"]
    for out, name in zip(outputs, names, strict=True):
        nodes.append(helper.make_node("Identity", [out], [name]))
    graph = helper.make_graph(
        nodes, "whisper_encoder",
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, [n_mels, "frames"])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["states", width]) for n in names],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # onnx >= 1.23 writes IR versions that older onnxruntime refuses
    return model


def build(model_bin: Path, out: Path, *, quantize: bool = True) -> Path:
    """Write the (int8) encoder graph for ``model_bin`` to ``out`` atomically."""
    import onnx

    from .whisper_encoder import read_ctranslate2_variables

    model = build_graph(read_ctranslate2_variables(model_bin, prefix="encoder/"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    float_path = tmp.with_suffix(".float.onnx")
    try:
        onnx.save(model, str(float_path if quantize else tmp))
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(float_path), str(tmp), weight_type=QuantType.QInt8, per_channel=False,
                             op_types_to_quantize=["MatMul"], extra_options={"MatMulConstBOnly": True})
        tmp.replace(out)
    finally:
        for f in (tmp, float_path):
            f.unlink(missing_ok=True)
    return out


def cached_graph(model_dir: Path, sha256: str, *, quantize: bool = True) -> Path:
    """The encoder graph for the weights in ``model_dir`` (sha256 ``sha256``), built once into the cache."""
    from ...models.registry import cache_dir

    kind = "int8" if quantize else "float"
    out = cache_dir() / "whisper-encoder" / f"{sha256[:16]}-v{GRAPH_VERSION}-{kind}.onnx"
    if not out.is_file():
        log.info("building the %s whisper encoder graph once into %s", kind, out)
        build(model_dir / "model.bin", out, quantize=quantize)
    return out


class OnnxWhisperEncoder(EncoderBase):
    """Every hidden state of the whisper encoder from onnxruntime; one session per thread count
    (the calling branch's share, :func:`~affectlens.core.threads.current_threads`)."""

    def __init__(self, graph: Path) -> None:
        self.graph = graph
        self._session: tuple[int, object] | None = None
        self._lock = threading.Lock()
        outputs = self.session(current_threads()).get_outputs()  # loads now: a broken graph fails here
        self.num_layers = len(outputs) - 2  # state_0..state_n and final
        self.width = int(outputs[0].shape[-1])
        self.n_mels = int(self.session(current_threads()).get_inputs()[0].shape[0])

    def session(self, threads: int):
        """The onnxruntime session, its pool sized to ``threads``. One session at a time: a
        call with another count replaces it (82 MB of weights each; the old one is freed once
        the call that still runs it returns)."""
        with self._lock:
            held = self._session
            if held is not None and held[0] == threads:
                return held[1]
            self._session = None
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            # No arena: it would keep the peak of a 30 s window's attention (~330 MB) for the
            # life of the process; without it ~80 MB stay, at ~20 % more time per window.
            options.enable_cpu_mem_arena = False
            try:
                session = ort.InferenceSession(str(self.graph), options, providers=["CPUExecutionProvider"])
            except Exception as e:  # onnxruntime raises its own types
                raise ModelError(f"cannot load the whisper encoder graph {self.graph}: {e}") from e
            self._session = (threads, session)
            return session

    def hidden_states(self, mel: np.ndarray, upto: int | None = None) -> list[np.ndarray]:
        """``[state_0, ..., state_n, final]`` for one log-mel chunk ``[80, frames]`` (as
        :meth:`WhisperEncoder.hidden_states`; ``upto`` only shortens the list, the graph runs whole)."""
        mel = np.asarray(mel, dtype=np.float32)
        if mel.ndim != 2 or mel.shape[0] != self.n_mels or not 2 <= mel.shape[1] <= MAX_MEL_FRAMES:
            raise ValueError(f"mel must be [{self.n_mels}, 2..{MAX_MEL_FRAMES}]; got shape {mel.shape}")
        states = self.session(current_threads()).run(None, {"mel": np.ascontiguousarray(mel)})
        return states if upto is None else states[: upto + 1]


@lru_cache(maxsize=2)
def load_onnx_encoder(quantize: bool = False) -> OnnxWhisperEncoder:
    """The pip-installed whisper-base encoder as an ONNX graph (float32, or int8 with
    ``quantize``), built once per machine."""
    from ...models.external import WHISPER_BASE_SHA256
    from ...models.registry import external_path

    folder = external_path("whisper-base")
    key = WHISPER_BASE_SHA256
    if os.environ.get("AFFECTLENS_WHISPER_DIR"):  # the user's own weights: key the graph by their file
        stat = (folder / "model.bin").stat()
        key = f"{stat.st_size:x}{int(stat.st_mtime):x}".rjust(16, "0")
    return OnnxWhisperEncoder(cached_graph(folder, key, quantize=quantize))
