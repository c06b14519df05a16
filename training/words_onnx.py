"""Export the MiniLM encoder to an ONNX graph that carries none of the pip package's weights.

Every initializer whose values equal the tensor of the same name in the pinned
``model.safetensors`` is turned into an ONNX *external data* reference (file
``model.safetensors``, byte offset, length). safetensors stores raw little-endian row-major
tensors, which is exactly ONNX's external data layout, so at run time the graph is placed next
to the package's safetensors file and onnxruntime reads the base weights straight from it.
Tensors that differ (fine-tuned layers) stay inside the graph as float16 followed by a Cast,
which onnxruntime folds away when the session starts.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from words_bert import MiniLM

SAFETENSORS = "model.safetensors"


def safetensors_index(path: Path) -> tuple[int, dict[str, dict]]:
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
    header.pop("__metadata__", None)
    return 8 + n, header


def export_encoder(model: MiniLM, base_safetensors: Path, out: Path, *, opset: int = 17) -> dict:
    """Write ``out`` (graph: input_ids, attention_mask, token_type_ids -> embedding [b, 384]).

    Returns a summary: how many tensors reference the base file and how many are embedded.
    """
    model = model.eval()
    ids = torch.ones((2, 7), dtype=torch.int64)
    buf = io.BytesIO()
    torch.onnx.export(
        model, (ids, torch.ones_like(ids), torch.zeros_like(ids)), buf, dynamo=False, opset_version=opset,
        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["embedding"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                      "token_type_ids": {0: "batch", 1: "seq"}, "embedding": {0: "batch"}},
        do_constant_folding=False,  # keeps parameter names (and un-transposed weights) as initializers
    )
    graph_model = onnx.load_from_string(buf.getvalue())
    start, header = safetensors_index(base_safetensors)
    raw = base_safetensors.read_bytes()
    kept, external, embedded = [], 0, 0
    cast_nodes = []
    for init in graph_model.graph.initializer:
        arr = numpy_helper.to_array(init)
        info = header.get(init.name)
        if info is not None and info["dtype"] == "F32" and list(arr.shape) == info["shape"]:
            a, b = info["data_offsets"]
            base = np.frombuffer(raw[start + a:start + b], dtype=np.float32).reshape(arr.shape)
            if np.array_equal(base, arr):
                ref = TensorProto(name=init.name, data_type=TensorProto.FLOAT, dims=arr.shape)
                ref.data_location = TensorProto.EXTERNAL
                for key, value in (("location", SAFETENSORS), ("offset", str(start + a)), ("length", str(b - a))):
                    entry = ref.external_data.add()
                    entry.key, entry.value = key, value
                kept.append(ref)
                external += 1
                continue
        if arr.dtype == np.float32 and arr.size >= 1024:
            half = numpy_helper.from_array(arr.astype(np.float16), name=init.name + "__fp16")
            kept.append(half)
            cast_nodes.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
            embedded += 1
        else:
            kept.append(init)
            embedded += 1
    del graph_model.graph.initializer[:]
    graph_model.graph.initializer.extend(kept)
    for i, node in enumerate(cast_nodes):
        graph_model.graph.node.insert(i, node)
    graph_model.producer_name = "affectlens training/words_onnx.py"
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written with SerializeToString, not onnx.save, so the external references are kept as is
    # (onnx.save would try to resolve and rewrite them).
    out.write_bytes(graph_model.SerializeToString())
    return {"external_tensors": external, "embedded_tensors": embedded, "bytes": out.stat().st_size}
