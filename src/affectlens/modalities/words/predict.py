"""Text emotion per utterance: probabilities, sentiment, valence, emotion words and the words why.

Two predictors share one output type, :class:`TextPrediction`:

* :class:`MiniLMPredictor` (``text-emotion-minilm``): MiniLM through onnxruntime on each
  utterance once, a dialogue-context layer over the embeddings of the turns around it
  (:mod:`.dialogue`; older cards instead pair the utterance with its previous turns as extra
  word pieces), linear heads for MELD emotion and sentiment and a 28-label GoEmotions head for
  open-vocabulary emotion words. Word attributions come from
  leave-one-word-out occlusion: the encoder is re-run without each of a few candidate words
  and the drop in probability is the word's weight, so every cue is something the model used.
* :class:`TfidfPredictor` (``text-emotion-tfidf``): the linear fallback when the encoder's pip
  package is missing. Its attributions are exact (coefficient x tf-idf per word).

:func:`predict_texts` picks the encoder when it can be loaded and falls back otherwise, saying
which model ran in :attr:`TextPrediction.model`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ...core.errors import ModelError
from ...core.labels import map_label, to_shared_probs
from ...models.registry import get_card, load_arrays
from .context import DialogueWindow, build_context, dialogue_window
from .corpora import normalise_text
from .dialogue import attend, has_dialogue_layer
from .encoder import MiniLMEncoder, l2_normalise, load_encoder
from .tfidf import TfidfTextModel, load_tfidf, tokens

log = logging.getLogger(__name__)

ENCODER_MODEL = "text-emotion-minilm"
FALLBACK_MODEL = "text-emotion-tfidf"
FALLBACK_SENTIMENT = "text-sentiment-tfidf"

#: Words too common to be worth an occlusion pass of their own (they still count as words).
_STOPWORDS = frozenset(
    "a an the and or but if of to in on at for with from by as is are was were be been am i you he she it we "
    "they me him her us them my your his its our their this that these those there here so do does did have has "
    "had will would can could should 's 're 'm 'll 've 'd".split()
)


@dataclass(frozen=True)
class WordAttribution:
    """One word's measured push towards a class.

    ``weight`` is in probability units for the encoder (drop in the predicted class's
    probability when the word is removed) and in logit units for the linear model (the word's
    exact share of the predicted class's centred logit).
    """

    word: str
    weight: float
    label: str  # shared label (LABELS) this word points to most


@dataclass(frozen=True)
class TextPrediction:
    """Everything the words models say about one utterance."""

    text: str
    probs: dict[str, float]  # over core.labels.LABELS
    native_probs: dict[str, float]  # over the model's own (MELD) labels
    label: str  # argmax of probs
    sentiment: dict[str, float]  # negative / neutral / positive
    valence: float  # VADER compound in [-1, 1]
    emotion_words: tuple[tuple[str, float], ...]  # GoEmotions labels over their threshold, ranked
    attributions: tuple[WordAttribution, ...]  # words that drove ``label``, strongest first
    n_words: int
    model: str
    context: str = ""  # the previous turns the model was shown
    #: How much the surrounding turns moved the predicted class's probability (the prediction
    #: minus the same utterance read with no context); None for models without a dialogue layer.
    context_effect: float | None = None


@dataclass(frozen=True)
class Conversation:
    """Utterances in order with what a model needs of their dialogue: the previous turns as text
    (for graphs that read context as word pieces, and for the report) and the neighbour window
    (for the dialogue-context layer)."""

    texts: list[str]
    contexts: list[str]
    window: DialogueWindow | None = None


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_valence(text: str) -> float:
    """VADER's compound score: a lexicon-and-rules valence in [-1, 1], independent of the models."""
    return float(_vader().polarity_scores(text)["compound"])


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _shared(native: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    return to_shared_probs(native, labels, "meld")


class MiniLMPredictor:
    """The encoder model: a shipped card with ONNX graph(s) and ``heads.npz``.

    Parameters
    ----------
    model : str, default="text-emotion-minilm"
        Registered name or folder of the model.
    threads : int, default=2
        onnxruntime threads.
    occlusion_words : int, default=6
        How many candidate words per utterance get a leave-one-out pass (each costs one extra
        utterance through the encoder). 0 disables attributions.
    """

    def __init__(self, model: str = ENCODER_MODEL, *, threads: int = 2, occlusion_words: int = 6) -> None:
        self.card = get_card(model)
        self.name = self.card.name
        self.heads_spec: dict[str, dict] = self.card.extra["heads"]
        self.arrays = load_arrays(model, "heads.npz")
        graphs = sorted({g for spec in self.heads_spec.values() for g, _ in spec["inputs"]})
        self.encoders: dict[str, MiniLMEncoder] = {g: load_encoder(model, g, threads=threads) for g in graphs}
        self.labels = self.card.labels
        self.sentiment_labels = tuple(self.card.extra["sentiment_labels"])
        self.goemotions_labels = tuple(self.card.extra["goemotions_labels"])
        self.previous = int(self.card.extra.get("context_previous", 2))
        spec = self.card.extra.get("context", {})
        self.following = int(spec.get("following", 0)) if spec.get("kind") == "dialogue" else 0
        if any(h.get("dialogue") for h in self.heads_spec.values()) and not has_dialogue_layer(self.arrays):
            raise ModelError(f"{self.name}: a head reads the dialogue layer but heads.npz has no dialogue_* arrays")
        self.occlusion_words = occlusion_words
        self._fallback: TfidfTextModel | None = None
        #: Optional late fusion with the linear models (card key ``blend``: head -> [model, weight]),
        #: weights tuned on MELD dev by training/words_blend.py. The two err differently: the
        #: encoder reads context and paraphrase, the n-grams catch rare but telling words.
        self.blend: dict[str, tuple[str, float]] = {k: (m, float(w)) for k, (m, w) in self.card.extra.get("blend", {}).items()}

    def _blended(self, head: str, probs: np.ndarray, texts: list[str], memo: dict | None = None) -> np.ndarray:
        if head not in self.blend:
            return probs
        name, weight = self.blend[head]
        model = load_tfidf(name)
        memo = {} if memo is None else memo
        key = ("tfidf", model.feature_key)  # the emotion and sentiment models share one vocabulary
        if key not in memo:
            memo[key] = model.transform(texts)
        return (1.0 - weight) * probs + weight * model.predict_proba(texts, memo[key])

    def conversation(self, texts: list[str], speakers: Sequence[str | None] | None = None,
                     dialogues: Sequence[str | None] | None = None) -> Conversation:
        """What this model reads of the dialogue around each of ``texts`` (non-empty, in order)."""
        contexts = build_context(texts, speakers, dialogues, previous=self.previous)
        window = None
        if any(h.get("dialogue") for h in self.heads_spec.values()):
            window = dialogue_window(len(texts), speakers, dialogues, previous=self.previous, following=self.following)
        return Conversation(list(texts), contexts, window)

    def _encoded(self, head: str, texts: list[str], contexts: list[str], memo: dict) -> np.ndarray:
        """The head's encoder features before any dialogue layer."""
        spec = self.heads_spec[head]
        parts = []
        for graph, kind in spec["inputs"]:
            key = (graph, kind)
            if key not in memo:
                memo[key] = self.encoders[graph].embed(texts, contexts if kind == "ctx" else None)
            x = memo[key]
            parts.append(l2_normalise(x) if spec.get("normalise", True) else x)
        return np.hstack(parts)

    def _features(self, head: str, conv: Conversation, memo: dict) -> np.ndarray:
        x = self._encoded(head, conv.texts, conv.contexts, memo)
        if not self.heads_spec[head].get("dialogue"):
            return x
        key = ("dialogue", repr(self.heads_spec[head]["inputs"]))
        if key not in memo:
            memo[key] = attend(x, conv.window, self.arrays)
        return memo[key][0]

    def _context_effect(self, conv: Conversation, emo: np.ndarray, memo: dict) -> np.ndarray | None:
        """Per utterance, the predicted class's probability minus its probability with no context.

        Reading an utterance alone costs no encoder pass: the dialogue layer gets an empty window.
        """
        if not self.heads_spec["emotion"].get("dialogue"):
            return None
        encoded = self._encoded("emotion", conv.texts, conv.contexts, memo)
        in_context = _softmax(self._head("emotion", self._features("emotion", conv, memo)))
        alone = _softmax(self._head("emotion", attend(encoded, conv.window.empty(), self.arrays)[0]))
        # The TF-IDF share of a blend reads no context, so it cancels in the difference.
        share = 1.0 - self.blend["emotion"][1] if "emotion" in self.blend else 1.0
        pred = emo.argmax(axis=1)
        rows = np.arange(len(emo))
        return share * (in_context[rows, pred] - alone[rows, pred])

    def _head(self, head: str, x: np.ndarray) -> np.ndarray:
        """A linear head, or a one-hidden-layer ReLU MLP when ``<head>_hidden_W`` is present."""
        if f"{head}_hidden_W" in self.arrays:
            x = np.maximum(x @ self.arrays[f"{head}_hidden_W"].T + self.arrays[f"{head}_hidden_b"], 0.0)
        return x @ self.arrays[f"{head}_W"].T + self.arrays[f"{head}_b"]

    def probabilities(self, conv: Conversation, heads: Sequence[str] = ("emotion", "sentiment")) -> dict[str, np.ndarray]:
        """Blended class probabilities per head (``[n, classes]``), sharing one encoder pass."""
        memo: dict = {}
        return {h: self._blended(h, _softmax(self._head(h, self._features(h, conv, memo))), conv.texts, memo)
                for h in heads}

    def predict(self, texts: list[str], speakers: Sequence[str | None] | None = None,
                dialogues: Sequence[str | None] | None = None) -> list[TextPrediction]:
        """One prediction per utterance of ``texts`` (non-empty, in conversation order)."""
        conv = self.conversation(texts, speakers, dialogues)
        memo: dict = {}
        emo = self._blended("emotion", _softmax(self._head("emotion", self._features("emotion", conv, memo))), texts, memo)
        sent = self._blended("sentiment", _softmax(self._head("sentiment", self._features("sentiment", conv, memo))),
                             texts, memo)
        goemo = 1.0 / (1.0 + np.exp(-self._head("goemotions", self._features("goemotions", conv, memo))))
        effect = self._context_effect(conv, emo, memo)
        attributions = self._occlusion(conv, emo, memo)
        out = []
        for i, text in enumerate(texts):
            shared = _shared(emo[i], self.labels)
            over = goemo[i] >= self.arrays["goemotions_thresholds"]
            words = sorted(((self.goemotions_labels[j], float(goemo[i, j])) for j in np.flatnonzero(over)),
                           key=lambda kv: -kv[1])
            out.append(_prediction(text, conv.contexts[i], shared, emo[i], self.labels, sent[i], self.sentiment_labels,
                                   tuple(words), attributions[i], self.name,
                                   None if effect is None else round(float(effect[i]), 4)))
        return out

    def _candidates(self, text: str) -> list[tuple[int, str]]:
        """Token positions worth occluding: content words first, ranked by the linear model's weight."""
        toks = tokens(text)
        words = [(i, t.strip(".,;:!?\"()[]-")) for i, t in enumerate(toks)]
        words = [(i, w) for i, w in words if w]
        content = [(i, w) for i, w in words if w not in _STOPWORDS] or words
        if len(content) <= self.occlusion_words:
            return content
        if self._fallback is None:
            self._fallback = load_tfidf(FALLBACK_MODEL)
        strength = {c.word: float(np.abs(c.contributions).max()) for c in self._fallback.contributions(text)}
        content.sort(key=lambda iw: -strength.get(iw[1], 0.0))
        return content[: self.occlusion_words]

    def _occluded_proba(self, conv: Conversation, variants: list[str], owners: list[int], memo: dict) -> np.ndarray:
        """Emotion probabilities of utterance variants, each read in its owner's place in the dialogue.

        A variant is encoded alone (or with its owner's context, for word-piece context graphs);
        the dialogue layer then reads the owner's neighbours as they were, since a word removed
        from one turn does not change the others.
        """
        contexts = [conv.contexts[n] for n in owners]
        x = self._encoded("emotion", variants, contexts, {})
        if self.heads_spec["emotion"].get("dialogue"):
            x = attend(self._encoded("emotion", conv.texts, conv.contexts, memo), conv.window.take(owners), self.arrays,
                       queries=x)[0]
        return self._blended("emotion", _softmax(self._head("emotion", x)), variants)

    def _occlusion(self, conv: Conversation, probs: np.ndarray, memo: dict) -> list[tuple[WordAttribution, ...]]:
        texts = conv.texts
        if self.occlusion_words <= 0:
            return [()] * len(texts)
        variants = []
        for n, text in enumerate(texts):
            toks = tokens(text)
            if len(toks) < 2:
                continue  # removing the only word leaves nothing to compare with
            for i, word in self._candidates(text):
                variants.append((" ".join(toks[:i] + toks[i + 1:]), n, word))
        result: list[list[WordAttribution]] = [[] for _ in texts]
        if not variants:
            return [()] * len(texts)
        occluded = self._occluded_proba(conv, [v for v, _, _ in variants], [n for _, n, _ in variants], memo)
        for (_, n, word), p in zip(variants, occluded, strict=True):
            drop = probs[n] - p  # how much each class loses without the word
            pred = int(np.argmax(probs[n]))
            if drop[pred] <= 0.0:
                continue  # the word did not support the decision
            points = int(np.argmax(drop))
            result[n].append(WordAttribution(word, float(drop[pred]), map_label(self.labels[points], "meld") or "neutral"))
        out = []
        for r in result:  # a word said twice is reported once, with its stronger occurrence
            best: dict[str, WordAttribution] = {}
            for a in r:
                if a.word not in best or a.weight > best[a.word].weight:
                    best[a.word] = a
            out.append(tuple(sorted(best.values(), key=lambda a: -a.weight)))
        return out


class TfidfPredictor:
    """The encoder-free fallback (no context, no open-vocabulary words)."""

    def __init__(self, model: str = FALLBACK_MODEL, sentiment_model: str = FALLBACK_SENTIMENT, *, top_words: int = 6) -> None:
        self.model = load_tfidf(model)
        self.sentiment = load_tfidf(sentiment_model)
        self.name = get_card(model).name
        self.previous = 0
        self.top_words = top_words

    def predict(self, texts: list[str], speakers: Sequence[str | None] | None = None,
                dialogues: Sequence[str | None] | None = None) -> list[TextPrediction]:
        """One prediction per utterance; the linear models read each utterance alone."""
        x = self.model.transform(texts)
        emo = self.model.predict_proba(texts, x)
        shared = self.sentiment.feature_key == self.model.feature_key
        sent = self.sentiment.predict_proba(texts, x if shared else None)
        out = []
        for i, text in enumerate(texts):
            pred = int(np.argmax(emo[i]))
            attributions = []
            for c in self.model.contributions(text):
                centred = c.contributions - c.contributions.mean()  # softmax ignores a shared shift
                if centred[pred] > 0:
                    label = map_label(self.model.labels[int(np.argmax(centred))], "meld") or "neutral"
                    attributions.append(WordAttribution(c.word, float(centred[pred]), label))
            attributions.sort(key=lambda a: -a.weight)
            out.append(_prediction(text, "", _shared(emo[i], self.model.labels), emo[i], self.model.labels, sent[i],
                                   self.sentiment.labels, (), tuple(attributions[: self.top_words]), self.name))
        return out


def _prediction(text, context, shared, native, labels, sent, sent_labels, words, attributions, model,
                context_effect=None) -> TextPrediction:
    from ...core.labels import probs_dict

    probs = probs_dict(shared)
    return TextPrediction(
        text=text, probs=probs, native_probs={k: float(v) for k, v in zip(labels, native, strict=True)},
        label=max(probs, key=probs.__getitem__),
        sentiment={k: float(v) for k, v in zip(sent_labels, sent, strict=True)},
        valence=vader_valence(text), emotion_words=words, attributions=attributions,
        n_words=len(tokens(text)), model=model, context=context, context_effect=context_effect,
    )


@lru_cache(maxsize=4)
def load_predictor(prefer: str = "encoder", threads: int = 2) -> MiniLMPredictor | TfidfPredictor:
    """The encoder predictor, or the TF-IDF fallback when the encoder cannot be loaded.

    ``prefer="tfidf"`` forces the fallback. A failed encoder load is logged as a warning once.
    """
    if prefer == "encoder":
        try:
            return MiniLMPredictor(ENCODER_MODEL, threads=threads)
        except ModelError as e:
            log.warning("words: encoder model unavailable (%s); using the TF-IDF fallback", e)
    elif prefer != "tfidf":
        raise ValueError(f"The 'prefer' parameter of load_predictor must be 'encoder' or 'tfidf'. Got {prefer!r} instead.")
    return TfidfPredictor()


def predict_texts(
    texts: Sequence[str | None],
    speakers: Sequence[str | None] | None = None,
    dialogues: Sequence[str | None] | None = None,
    *,
    prefer: str = "encoder",
    threads: int = 2,
) -> list[TextPrediction | None]:
    """Predict emotion for utterances in conversation order.

    Parameters
    ----------
    texts : sequence of str or None
        Utterances in the order they were said. Empty or None entries get None back and are
        not used as context.
    speakers, dialogues : sequence of str or None, optional
        Who said each utterance and which conversation it belongs to. Context (the turns
        around each utterance, tagged same/other speaker) never crosses a dialogue; all-None
        dialogues mean one conversation.
    prefer : {"encoder", "tfidf"}, default="encoder"
        Which model to try first.
    threads : int, default=2
        onnxruntime threads for the encoder (the caller's share of the thread budget).

    Returns
    -------
    list of TextPrediction or None
        One per input, aligned.

    Examples
    --------
    >>> [p.label for p in predict_texts(["I can't believe you did that to me!"], prefer="tfidf")]  # doctest: +SKIP
    ['angry']
    """
    clean = [normalise_text(t) for t in texts]
    predictor = load_predictor(prefer, threads)
    n = len(clean)
    speakers = list(speakers) if speakers is not None else [None] * n
    dialogues = list(dialogues) if dialogues is not None else [None] * n
    if len(speakers) != n or len(dialogues) != n:
        raise ValueError("texts, speakers and dialogues must have the same length")
    keep = [i for i, t in enumerate(clean) if t.strip()]  # empty turns are neither predicted nor context
    out: list[TextPrediction | None] = [None] * n
    if keep:
        preds = predictor.predict([clean[i] for i in keep], [speakers[i] for i in keep], [dialogues[i] for i in keep])
        for i, p in zip(keep, preds, strict=True):
            out[i] = p
    return out


def reliability(n_words: int, model: str) -> float:
    """How much fusion may trust the words for one utterance, in [0, 1].

    Grows with the number of words and saturates: a one-word turn ("Okay.", "What?") is
    ambiguous without tone or face, a sentence of ten or more words rarely is. The ceiling
    is lower for the fallback, which scored 5 points of MELD weighted F1 below the encoder (0.567 vs 0.618).
    ``0.25 + 0.75 * (1 - exp(-n / 5))``, times 0.9 (encoder) or 0.8 (fallback).
    """
    ceiling = 0.9 if model == ENCODER_MODEL else 0.8
    return round(ceiling * (0.25 + 0.75 * (1.0 - math.exp(-max(n_words, 0) / 5.0))), 4)
