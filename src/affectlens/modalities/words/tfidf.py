"""The encoder-free fallback: TF-IDF over word and character n-grams + logistic regression.

It needs nothing but numpy, so the words modality still works when the MiniLM pip package is
absent. The model ships as plain arrays (vocabulary as JSON, idf, coefficients, intercept) and
the transform is re-implemented here rather than unpickled, which has two benefits: nothing
executable is loaded from disk, and every feature occurrence can be traced back to the word it
came from. Because the classifier is linear, the logit of each class is *exactly* the sum of
per-word contributions plus the intercept, so the cues this model reports are its real reasons.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np

from ...models.registry import get_card, load_arrays
from .corpora import normalise_text

#: Word tokens: letters/digits with an optional contraction ("don't"), or ! and ? on their own,
#: which carry a lot of the emotion in short conversational turns.
_WORD = re.compile(r"\w+(?:'\w+)?|[!?]")


def tokens(text: str) -> list[str]:
    """Whitespace tokens of the normalised, lower-cased text: the unit attributions are given in."""
    return normalise_text(text).lower().split()


def occurrences(text: str, *, char_range: tuple[int, int] = (2, 5)) -> list[tuple[str, tuple[int, ...]]]:
    """Every n-gram occurrence of ``text`` with the whitespace tokens it came from.

    Word unigrams are ``w:<word>``, word bigrams ``w:<a> <b>`` (crossing token boundaries), and
    character n-grams inside one padded token ``c:<chars>`` (sklearn's ``char_wb`` scheme).

    >>> occurrences("Oh no!", char_range=(5, 5))[:3]
    [('w:oh', (0,)), ('w:no', (1,)), ('w:!', (1,))]
    """
    toks = tokens(text)
    words: list[tuple[str, int]] = []
    for i, tok in enumerate(toks):
        words.extend((m.group(0), i) for m in _WORD.finditer(tok))
    out: list[tuple[str, tuple[int, ...]]] = [(f"w:{w}", (i,)) for w, i in words]
    out.extend((f"w:{a} {b}", tuple(sorted({i, j}))) for (a, i), (b, j) in zip(words, words[1:], strict=False))
    lo, hi = char_range
    for i, tok in enumerate(toks):
        padded = f" {tok} "
        for n in range(lo, hi + 1):
            out.extend((f"c:{padded[k:k + n]}", (i,)) for k in range(len(padded) - n + 1))
    return out


def ngrams(text: str, *, char_range: tuple[int, int] = (2, 5)) -> list[str]:
    """The n-gram strings of :func:`occurrences`, without tracking tokens (the fast path for scoring)."""
    toks = tokens(text)
    words = [m.group(0) for tok in toks for m in _WORD.finditer(tok)]
    out = [f"w:{w}" for w in words]
    out.extend(f"w:{a} {b}" for a, b in zip(words, words[1:], strict=False))
    lo, hi = char_range
    for tok in toks:
        padded = f" {tok} "
        for n in range(lo, hi + 1):
            out.extend(f"c:{padded[k:k + n]}" for k in range(len(padded) - n + 1))
    return out


def analyze(text: str) -> list[str]:
    """The n-gram strings of ``text`` (the analyzer the training script hands to sklearn)."""
    return ngrams(text)


@dataclass(frozen=True)
class WordContribution:
    """How much one word moved each class logit (exact for this linear model)."""

    word: str
    contributions: np.ndarray  # [shape=(n_classes,)], summed over the word's occurrences


class TfidfTextModel:
    """TF-IDF (sublinear tf, smooth idf, L2 norm) + multinomial logistic regression.

    Parameters
    ----------
    vocabulary : dict
        n-gram string -> column.
    idf, coef, intercept : np.ndarray
        ``[n_features]``, ``[n_classes, n_features]``, ``[n_classes]``.
    labels : sequence of str
        Native class names, in coef row order.
    """

    def __init__(self, *, vocabulary: dict[str, int], idf: np.ndarray, coef: np.ndarray,
                 intercept: np.ndarray, labels: Sequence[str]) -> None:
        self.vocabulary = vocabulary
        self.idf = np.asarray(idf, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.labels = tuple(labels)

    def _weights(self, text: str) -> tuple[list[tuple[int, tuple[int, ...]]], dict[int, float]]:
        """Feature occurrences and each present feature's final tf-idf weight *per occurrence*."""
        occ = [(self.vocabulary[f], toks) for f, toks in occurrences(text) if f in self.vocabulary]
        counts = Counter(col for col, _ in occ)
        value = {col: (1.0 + math.log(c)) * self.idf[col] for col, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in value.values())) or 1.0
        # Sublinear tf is not additive in occurrences, so each occurrence gets an equal share of
        # its feature's value; the shares still add up to the exact feature value.
        return occ, {col: value[col] / norm / counts[col] for col in counts}

    def features(self, texts: Iterable[str]) -> np.ndarray:
        """Dense ``[n, n_features]`` tf-idf matrix (small batches only; used by tests)."""
        texts = list(texts)
        out = np.zeros((len(texts), len(self.idf)))
        for r, text in enumerate(texts):
            occ, share = self._weights(text)
            for col, _ in occ:
                out[r, col] += share[col]
        return out

    @cached_property
    def feature_key(self) -> tuple[int, str]:
        """Equal for two models whose :meth:`transform` gives the same matrix (same vocabulary and idf)."""
        return len(self.vocabulary), hashlib.sha256(self.idf.tobytes()).hexdigest()

    def transform(self, texts: Iterable[str]):
        """Sparse ``[n, n_features]`` tf-idf rows (``scipy.sparse.csr_matrix``), each text once."""
        from scipy.sparse import csr_matrix

        texts = list(texts)
        seen: dict[str, int] = {}
        where = [seen.setdefault(t, len(seen)) for t in texts]
        indptr, indices, data = [0], [], []
        for text in seen:
            counts = Counter(self.vocabulary[f] for f in ngrams(text) if f in self.vocabulary)
            cols = np.fromiter(counts, dtype=np.int64, count=len(counts))
            vals = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * self.idf[cols]
            norm = float(np.sqrt(vals @ vals)) or 1.0
            indices.append(cols)
            data.append(vals / norm)
            indptr.append(indptr[-1] + len(cols))
        unique = csr_matrix((np.concatenate(data) if data else np.zeros(0), np.concatenate(indices) if indices
                             else np.zeros(0, dtype=np.int64), indptr), shape=(len(seen), len(self.idf)))
        return unique[where]

    def logits(self, texts: Iterable[str], features=None) -> np.ndarray:
        """``[n, n_classes]`` class scores; ``features`` is :meth:`transform` of ``texts`` if already at hand."""
        x = self.transform(texts) if features is None else features
        return np.asarray(x @ self.coef.T).reshape(-1, len(self.labels)) + self.intercept

    def predict_proba(self, texts: Iterable[str], features=None) -> np.ndarray:
        """``[n, n_classes]`` softmax probabilities over :attr:`labels`."""
        z = self.logits(texts, features)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def contributions(self, text: str) -> list[WordContribution]:
        """Per-word share of every class logit; they sum to ``logits - intercept`` exactly."""
        toks = tokens(text)
        occ, share = self._weights(text)
        per_token = np.zeros((len(toks), len(self.labels)))
        for col, where in occ:
            # A bigram spanning two tokens splits its contribution evenly between them.
            per_token[list(where)] += self.coef[:, col] * share[col] / len(where)
        merged: dict[str, np.ndarray] = {}
        for tok, contrib in zip(toks, per_token, strict=True):
            word = tok.strip(".,;:!?\"()[]-") or tok
            merged[word] = merged.get(word, 0.0) + contrib
        return [WordContribution(word=w, contributions=c) for w, c in merged.items()]


@cache
def load_tfidf(name: str = "text-emotion-tfidf") -> TfidfTextModel:
    """Rebuild a shipped TF-IDF model from its card (``vocabulary.json`` + ``weights.npz``)."""
    card = get_card(name)
    vocabulary = json.loads(card.path("vocabulary.json").read_text())
    arrays = load_arrays(name, "weights.npz")
    return TfidfTextModel(vocabulary=vocabulary, idf=arrays["idf"], coef=arrays["coef"],
                          intercept=arrays["intercept"], labels=card.labels)
