"""The dialogue-context layer: neighbour windows, the numpy attention, and its torch twin."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from affectlens.modalities.words.context import dialogue_window
from affectlens.modalities.words.dialogue import ARRAYS, PREFIX, attend

ROOT = Path(__file__).resolve().parents[1]


def random_arrays(slots: int, dim: int = 8, hidden: int = 384, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = {"q_W": (dim, hidden), "q_b": (dim,), "k_W": (dim, hidden), "k_b": (dim,), "v_W": (dim, hidden),
              "v_b": (dim,), "rel_k": (2 * slots, dim), "rel_v": (2 * slots, dim), "null_k": (dim,),
              "o_W": (hidden, dim), "o_b": (hidden,)}
    assert set(shapes) == set(ARRAYS)
    return {PREFIX + k: rng.normal(0, 0.3, s).astype(np.float32) for k, s in shapes.items()}


def test_window_stays_inside_each_dialogue_and_tags_speakers():
    w = dialogue_window(5, ["A", "B", "A", "A", None], ["d1", "d1", "d1", "d2", "d2"], previous=2, following=1)
    assert w.offsets == (-2, -1, 1)
    assert w.valid.tolist() == [[False, False, True], [False, True, True], [True, True, False],
                                [False, False, True], [False, True, False]]
    assert w.index[2].tolist() == [0, 1, 0] and w.index[1, 2] == 2
    assert w.same[2].tolist() == [True, False, False]  # A two turns back is the same speaker, B is not
    assert not w.same[4, 1]  # an unknown speaker counts as someone else
    assert w.relation[2].tolist() == [1, 2, 4]
    assert w.previous_only().valid[:, 2].sum() == 0 and (w.previous_only().valid[:, :2] == w.valid[:, :2]).all()
    assert w.take([2, 4]).index.tolist() == [w.index[2].tolist(), w.index[4].tolist()]


def test_attention_matches_a_plain_loop():
    w = dialogue_window(4, ["A", "B", "A", "B"], None, previous=2, following=1)
    arrays = random_arrays(len(w.offsets))
    u = np.random.default_rng(1).normal(0, 1, (4, 384)).astype(np.float32)
    got, weights = attend(u, w, arrays)
    a = {k[len(PREFIX):]: v.astype(np.float64) for k, v in arrays.items()}
    for i in range(4):
        q = a["q_W"] @ u[i] + a["q_b"]
        scores, values = [q @ a["null_k"] / np.sqrt(8)], [np.zeros(8)]
        for s in range(len(w.offsets)):
            if w.valid[i, s]:
                rel = 2 * s + int(w.same[i, s])
                scores.append(q @ (a["k_W"] @ u[w.index[i, s]] + a["k_b"] + a["rel_k"][rel]) / np.sqrt(8))
                values.append(a["v_W"] @ u[w.index[i, s]] + a["v_b"] + a["rel_v"][rel])
        p = np.exp(np.array(scores) - max(scores))
        p /= p.sum()
        expected = u[i] + a["o_W"] @ (p[:, None] * np.array(values)).sum(0) + a["o_b"]
        np.testing.assert_allclose(got[i], expected, rtol=1e-4, atol=1e-4)
        assert weights[i].sum() == pytest.approx(1.0, abs=1e-5)
        assert (weights[i, 1:][~w.valid[i]] == 0).all()


def test_empty_window_reads_the_utterance_alone_and_queries_replace_rows():
    w = dialogue_window(3, None, None, previous=1, following=1)
    arrays = random_arrays(len(w.offsets))
    u = np.random.default_rng(2).normal(0, 1, (3, 384)).astype(np.float32)
    alone, weights = attend(u, w.empty(), arrays)
    np.testing.assert_allclose(alone, u + arrays[PREFIX + "o_b"], atol=1e-5)
    assert (weights[:, 0] == 1).all()
    # A variant of utterance 1 read in its place sees the same neighbours as the original would.
    variant = np.random.default_rng(3).normal(0, 1, (1, 384)).astype(np.float32)
    one = w.take([1])
    got = attend(u, one, arrays, queries=variant)[0]
    swapped = u.copy()
    swapped[1] = variant[0]
    np.testing.assert_allclose(got[0], attend(swapped, w, arrays)[0][1], atol=1e-5)
    with pytest.raises(ValueError):
        attend(u, one, arrays, queries=u)


def test_torch_twin_computes_the_same_function():
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(ROOT / "training"))
    from words_dialogue import DialogueAttention

    w = dialogue_window(6, list("ABABBA"), list("xxxxyy"), previous=3, following=2)
    layer = DialogueAttention(len(w.offsets), dim=16).eval()
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(0, 0.2)
    u = torch.randn(6, 384)
    with torch.no_grad():
        ref = layer(u, torch.from_numpy(w.index), torch.from_numpy(w.relation), torch.from_numpy(w.valid)).numpy()
    np.testing.assert_allclose(attend(u.numpy(), w, layer.arrays())[0], ref, atol=1e-4)
