"""The dialogue-context layer: one attention step from an utterance to the turns around it.

The encoder embeds each utterance alone, once; this layer then lets the utterance read its
neighbours' embeddings (:class:`~affectlens.modalities.words.context.DialogueWindow`): a query
from the utterance, keys and values from each neighbour plus a learned vector for its
(offset, same-speaker) slot, and a learned "no context" key so the layer can ignore the
dialogue when the utterance speaks for itself. The result is added to the utterance embedding
(a residual), and the emotion and sentiment heads read the sum.

Trained jointly with the encoder's LoRA updates by ``training/words_dialogue.py``, whose torch
module computes exactly this function; the arrays (``dialogue_*`` in ``heads.npz``) are tiny and
the step costs microseconds per utterance in numpy.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .context import DialogueWindow

#: The arrays this layer reads from a model's ``heads.npz``.
ARRAYS = ("q_W", "q_b", "k_W", "k_b", "v_W", "v_b", "rel_k", "rel_v", "null_k", "o_W", "o_b")
PREFIX = "dialogue_"


def has_dialogue_layer(arrays: Mapping[str, np.ndarray]) -> bool:
    return all(PREFIX + name in arrays for name in ARRAYS)


def attend(u: np.ndarray, window: DialogueWindow, arrays: Mapping[str, np.ndarray], *,
           queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Context-enriched embeddings ``[n, 384]`` and the attention weights ``[n, 1 + slots]``.

    ``u`` holds the embeddings ``window.index`` points into. Row ``i`` of the result is
    ``queries[i]`` (default ``u[i]``) after reading its window's neighbours, so a variant of an
    utterance (a word left out) can be read in the original's place. Column 0 of the weights is
    the "no context" slot; the others follow ``window.offsets`` and are 0 where a slot is empty.
    """
    a = {name: np.asarray(arrays[PREFIX + name], dtype=np.float32) for name in ARRAYS}
    u = np.asarray(u, dtype=np.float32)
    own = u if queries is None else np.asarray(queries, dtype=np.float32)
    n, slots = window.index.shape
    d = a["q_W"].shape[0]
    if len(own) != n:
        raise ValueError(f"{len(own)} queries for a window of {n} rows")
    if n == 0:
        return own.copy(), np.zeros((0, 1 + slots), dtype=np.float32)
    q = own @ a["q_W"].T + a["q_b"]
    neighbours = u[window.index]  # [n, slots, 384]
    rel = window.relation
    k = neighbours @ a["k_W"].T + a["k_b"] + a["rel_k"][rel]
    v = neighbours @ a["v_W"].T + a["v_b"] + a["rel_v"][rel]
    scale = 1.0 / np.sqrt(d)
    scores = np.where(window.valid, np.einsum("nd,nsd->ns", q, k) * scale, -np.inf)
    null = (q @ a["null_k"]) * scale
    scores = np.concatenate([null[:, None], scores], axis=1)
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights = scores / scores.sum(axis=1, keepdims=True)
    c = np.einsum("ns,nsd->nd", weights[:, 1:], v)
    return own + c @ a["o_W"].T + a["o_b"], weights.astype(np.float32)
