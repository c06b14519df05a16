"""Facial expression classifier: aligned grey face crops -> probabilities over :data:`LABELS`.

The model is the shipped ``face-expression`` ONNX network (a compact CNN trained on FER2013
with ``training/face_expression.py``; see its model card for data, licence and test figures).
A card may list several networks under ``members``: they form an ensemble whose probabilities
are the mean of the members' softmax outputs (independently trained nets err on different
faces, so their average is more accurate than any one of them, at the cost of one pass each).
It takes the crops that :func:`affectlens.modalities.face.crop.crop_face` makes, so training
and run time see faces framed the same way.

A card may also carry a ``geometry`` head (:mod:`.expression_geometry`): a small network on the
shape of the face's 478-point mesh. Given each face's landmarks, :meth:`ExpressionClassifier.predict`
adds the head's log-probabilities, times the card's ``weight``, to the CNN's and renormalises
(a product of experts; the weight was chosen on a shifted validation split). Faces without a mesh
(``NaN`` landmarks, or none passed) get the CNN's probabilities alone. The entry's ``default``
says whether the head is used unless the caller decides (``geometry=``), and its ``tta_flip``
whether flip averaging goes with it (the combination its weight was chosen for).

Flip averaging (each crop's probabilities averaged with its mirror image's) can be **gated**: a
card's ``tta_flip_below`` limits it to the faces whose top probability without it is below that
value. The mirror image changes the answer almost only for faces the networks are unsure of: on
FER2013 validation every gain of flip averaging came from the 28 % of faces whose top probability
is under 0.5, so the gate keeps the accuracy for a fraction of the second pass's cost (the video
path classifies one face a frame, where a second pass is a second network run). The fraction
depends on the footage: 26 % of the faces of ``pexels_60s`` (the bundled sample) and 59 % of those
of ``talking_60s`` (the MER2023 clips, smaller faces talking) were under the gate.

Loading goes through the model registry, which checks the file's sha256; nothing is loaded
until the first :meth:`ExpressionClassifier.predict`.
"""

from __future__ import annotations

import logging
import math
import numbers

import numpy as np

from ...core.errors import ModelError
from ...core.labels import DATASET_MAPPINGS, LABELS
from ...models.registry import ModelCard, get_card, load_arrays, onnx_session
from .crop import CROP_SIZE
from .expression_geometry import GeometryHead

__all__ = ["CROP_SIZE", "MODEL_NAME", "ExpressionClassifier"]

log = logging.getLogger(__name__)

#: Registry name of the shipped expression model.
MODEL_NAME: str = "face-expression"


def _members(card: ModelCard) -> tuple[str, ...]:
    """The ONNX files whose softmax outputs are averaged: the card's ``members``, else its one file."""
    members = card.extra.get("members")
    if members is None:
        onnx_files = [f for f in card.files if f.endswith(".onnx")]
        if len(onnx_files) != 1:
            raise ModelError(f"model {card.name!r} has ONNX files {onnx_files}; its card must list "
                             "the ensemble's 'members'")
        return (onnx_files[0],)
    if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
        raise ModelError(f"model {card.name!r}: 'members' must be a non-empty list of file names")
    missing = [m for m in members if m not in card.files]
    if missing:
        raise ModelError(f"model {card.name!r} lists members {missing} that are not among its checked files")
    return tuple(members)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ExpressionClassifier:
    """Seven-class facial expression probabilities for batches of aligned face crops.

    Parameters
    ----------
    model : str, default=MODEL_NAME
        A registered model name or a folder holding a ``card.json`` (a model you trained).
    batch_size : int, default=256
        Crops per onnxruntime call; bounds memory for long videos, large enough to amortise
        the per-call overhead.
    flip : bool or None, default=None
        Average the predictions of each crop and its mirror image (with every ensemble member).
        ``None`` follows the model card's ``tta_flip`` (and its gate, ``tta_flip_below``), which
        the training scripts set only when it helped on validation; ``True`` flips every face
        unless ``flip_below`` says otherwise.
    flip_below : float or None, default=None
        With flip averaging on, average only the faces whose top probability without it is below
        this value (the others keep their one-pass probabilities). ``None``: the card's gate when
        ``flip`` is None, else every face.
    threads : int or None, default=None
        onnxruntime intra-op threads (None: up to 2, the target machine).
    geometry : bool or None, default=None
        Fuse the card's geometry head with the CNN when landmarks are given. ``None`` follows
        the card (its ``geometry`` entry's ``default``, true when absent); ``False`` gives the
        CNN alone. With the head on and ``flip=None``, flip averaging follows the entry's
        ``tta_flip`` and ``tta_flip_below`` (else the card's).

    Notes
    -----
    Following the estimator convention, ``__init__`` only stores its arguments: the card and
    the ONNX session are loaded on the first call, so building a pipeline stays cheap and a
    missing or corrupt model is reported where it is used.
    """

    def __init__(
        self,
        model: str = MODEL_NAME,
        *,
        batch_size: int = 256,
        flip: bool | None = None,
        threads: int | None = None,
        geometry: bool | None = None,
        flip_below: float | None = None,
    ) -> None:
        self.model = model
        self.batch_size = batch_size
        self.flip = flip
        self.threads = threads
        self.geometry = geometry
        self.flip_below = flip_below

    # -- lazy state -------------------------------------------------------------------------

    def _load(self) -> None:
        if getattr(self, "sessions_", None) is None:
            card = get_card(str(self.model))
            if tuple(card.labels) != LABELS:
                # Cards list labels in the shared order; a card in a dataset's native order would
                # need remapping, which this class does not guess at.
                raise ModelError(
                    f"model {card.name!r} lists labels {card.labels}; expected the shared order {LABELS}"
                )
            if card.label_mapping is not None and card.label_mapping not in DATASET_MAPPINGS:
                raise ModelError(f"model {card.name!r} names an unknown label mapping {card.label_mapping!r}")
            size = int(card.extra.get("crop_size", CROP_SIZE))
            if size != CROP_SIZE:
                log.warning("model %s expects %d px crops; crop_face's default is %d", card.name, size, CROP_SIZE)
            self.card_ = card
            self.crop_size_ = size
            flip_source: dict = card.extra
            self.geometry_head_, self.geometry_weight_ = None, 0.0
            spec = card.extra.get("geometry")
            if spec is not None and not (isinstance(spec, dict) and "file" in spec and "weight" in spec):
                raise ModelError(f"model {card.name!r}: 'geometry' must name its 'file' and 'weight'")
            use = self.geometry if self.geometry is not None else (spec is not None and spec.get("default", True))
            if spec is not None and use:
                if spec["file"] not in card.files:
                    raise ModelError(f"model {card.name!r}: geometry head {spec['file']!r} is not among its checked files")
                try:
                    self.geometry_head_ = GeometryHead(load_arrays(str(self.model), spec["file"]))
                except ValueError as e:
                    raise ModelError(f"model {card.name!r}: {e}") from e
                self.geometry_weight_ = float(spec["weight"])
                if "tta_flip" in spec:
                    flip_source = spec
            elif self.geometry:
                raise ModelError(f"model {card.name!r} has no geometry head")
            self.flip_, self.flip_below_ = self._flip_choice(card.name, flip_source)
            self.members_ = _members(card)
            spinning = len(self.members_) == 1  # members run in turn: idle threads must not spin
            self.sessions_ = [onnx_session(str(self.model), file, self.threads, spinning) for file in self.members_]
            self.input_names_ = [s.get_inputs()[0].name for s in self.sessions_]

    def _flip_choice(self, name: str, source: dict) -> tuple[bool, float]:
        """(flip averaging on, gate): faces whose one-pass top probability is below the gate are
        flipped (``inf``: every face); the caller's ``flip``/``flip_below`` win over the card."""
        if self.flip is None:
            flip = bool(source.get("tta_flip", False))
            below = source.get("tta_flip_below") if self.flip_below is None else self.flip_below
        else:
            flip, below = bool(self.flip), self.flip_below
        if below is None:
            below = math.inf
        if isinstance(below, bool) or not isinstance(below, numbers.Real) or not below > 0:
            raise ModelError(f"model {name!r}: the flip gate must be a positive number; got {below!r}")
        return flip, float(below)

    @property
    def uses_geometry(self) -> bool:
        """Whether :meth:`predict` fuses a geometry head when given landmarks (loads the card)."""
        self._load()
        return self.geometry_head_ is not None

    @property
    def crop_size(self) -> int:
        """Side of the crops the model expects (loads the card)."""
        self._load()
        return self.crop_size_

    # -- inference --------------------------------------------------------------------------

    def predict(self, crops: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """Expression probabilities for a batch of crops.

        Parameters
        ----------
        crops : np.ndarray [shape=(N, S, S), dtype=float32]
            Grey crops in [0, 1] from :func:`~affectlens.modalities.face.crop.crop_face`
            (``S`` = :data:`CROP_SIZE`). A single crop ``(S, S)`` is accepted as ``N = 1``.
        landmarks : np.ndarray [shape=(N, 478, 3)] or None
            Each face's MediaPipe mesh (any pixel frame: the head normalises pose and scale),
            for a card with a geometry head; a row of NaN marks a face without a mesh. None:
            the CNN alone.

        Returns
        -------
        np.ndarray [shape=(N, 7), dtype=float32]
            Probabilities in the order of :data:`affectlens.core.labels.LABELS`; rows sum to 1.
            ``N = 0`` gives an empty ``(0, 7)`` array.
        """
        crops = np.asarray(crops, dtype=np.float32)
        if crops.ndim == 2:
            crops = crops[None]
        if crops.ndim == 4 and crops.shape[1] == 1:
            crops = crops[:, 0]
        self._load()
        s = self.crop_size_
        if crops.ndim != 3 or crops.shape[1:] != (s, s):
            raise ValueError(f"crops must have shape (N, {s}, {s}); got {crops.shape}")
        if len(crops) == 0:
            return np.zeros((0, len(LABELS)), np.float32)
        if not np.isfinite(crops).all():
            raise ValueError("crops contain NaN or infinite values")
        if landmarks is not None:
            landmarks = np.asarray(landmarks, dtype=np.float32)
            if landmarks.ndim == 2:
                landmarks = landmarks[None]
            if landmarks.ndim != 3 or landmarks.shape[0] != len(crops) or landmarks.shape[2] != 3:
                raise ValueError(f"landmarks must have shape ({len(crops)}, 478, 3); got {landmarks.shape}")
        out = np.empty((len(crops), len(LABELS)), np.float32)
        for i in range(0, len(crops), self.batch_size):
            batch = np.ascontiguousarray(crops[i:i + self.batch_size, None])
            out[i:i + len(batch)] = self._cnn(batch)
        if landmarks is not None and self.geometry_head_ is not None:
            out = self._fuse(out, landmarks)
        return out

    def _run(self, views: np.ndarray) -> list[np.ndarray]:
        """Each member's softmax for a batch of views ``[n, 1, S, S]``."""
        return [_softmax(session.run(None, {name: views})[0])
                for session, name in zip(self.sessions_, self.input_names_, strict=True)]

    def _cnn(self, batch: np.ndarray) -> np.ndarray:
        """The members' mean probabilities for ``batch [n, 1, S, S]``, flip-averaged as chosen."""
        n = len(batch)
        if self.flip_ and math.isinf(self.flip_below_):
            # the mirror images ride in the same call as the crops: one run per member, not two
            # (at a batch of one face, the video case, 1.8 against 2.1 ms of CPU for the pair)
            probs = self._run(np.concatenate([batch, batch[..., ::-1]]))
            return np.mean([q for p in probs for q in (p[:n], p[n:])], axis=0)
        probs = self._run(batch)
        out = np.mean(probs, axis=0)
        if self.flip_:
            unsure = out.max(axis=1) < self.flip_below_
            if unsure.any():
                # a second run for the unsure faces only; their mean is then exactly the full flip average
                mirrored = self._run(np.ascontiguousarray(batch[unsure][..., ::-1]))
                out[unsure] = np.mean([p[unsure] for p in probs] + mirrored, axis=0)
        return out

    def _fuse(self, probs: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """``log p_cnn + weight * log p_geometry``, renormalised, where a face has a mesh."""
        ok = np.isfinite(landmarks.reshape(len(landmarks), -1)).all(axis=1)
        if not ok.any():
            return probs
        z = np.log(np.clip(probs[ok].astype(np.float64), 1e-8, 1.0))
        z += self.geometry_weight_ * self.geometry_head_.log_proba(landmarks[ok])
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        out = probs.copy()
        out[ok] = e / e.sum(axis=1, keepdims=True)
        return out

    def __call__(self, crops: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        return self.predict(crops, landmarks)

    def __repr__(self) -> str:
        return (f"ExpressionClassifier(model={self.model!r}, batch_size={self.batch_size}, flip={self.flip}, "
                f"flip_below={self.flip_below})")
