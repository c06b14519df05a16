"""Tune the late-fusion weight between the shipped MiniLM heads and the TF-IDF models on MELD dev.

For emotion and for sentiment, ``p = (1 - w) * p_encoder + w * p_tfidf`` with ``w`` on a grid
in [0, 0.6], chosen by dev weighted F1 (w = 0 means no blend). Writes the card's ``blend`` key
and updates its test metrics, scored once with the chosen weights. Run after the encoder
model is final (``words_finetune.py``).

    flock /tmp/affectlens-heavy.lock nice -n 5 python training/words_blend.py
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from affectlens.modalities.words.corpora import load_meld
from affectlens.modalities.words.predict import FALLBACK_MODEL, FALLBACK_SENTIMENT, MiniLMPredictor
from affectlens.modalities.words.tfidf import load_tfidf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from words_minilm import MODEL_DIR, sha256  # noqa: E402

log = logging.getLogger("words_blend")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    model = MiniLMPredictor(occlusion_words=0)
    model.blend = {}
    card = json.loads((MODEL_DIR / "card.json").read_text())
    blend, metrics = {}, {}
    splits = {s: load_meld(s) for s in ("dev", "test")}
    probs: dict = {}
    for name, s in splits.items():
        probs[name] = model.probabilities(model.conversation(s.texts, s.speakers, s.dialogues))
    for head, tfidf_name, attr in (("emotion", FALLBACK_MODEL, "emotions"), ("sentiment", FALLBACK_SENTIMENT, "sentiments")):
        tfidf = load_tfidf(tfidf_name)
        lin = {n: tfidf.predict_proba(s.texts) for n, s in splits.items()}
        best = None
        for w in np.round(np.arange(0.0, 0.61, 0.05), 2):
            f1 = f1_score(getattr(splits["dev"], attr), ((1 - w) * probs["dev"][head] + w * lin["dev"]).argmax(1),
                          average="weighted")
            log.info("%s w=%.2f dev WF1 %.4f", head, w, f1)
            if best is None or f1 > best[0] + 1e-9:
                best = (f1, float(w))
        f1, w = best
        y = getattr(splits["test"], attr)
        pred = ((1 - w) * probs["test"][head] + w * lin["test"]).argmax(1)
        prefix = "meld" if head == "emotion" else "meld_sentiment"
        metrics[f"{prefix}_test_weighted_f1"] = round(float(f1_score(y, pred, average="weighted")), 4)
        if head == "emotion":
            metrics["meld_test_macro_f1"] = round(float(f1_score(y, pred, average="macro")), 4)
            metrics["meld_test_accuracy"] = round(float((pred == y).mean()), 4)
            metrics["meld_dev_weighted_f1"] = round(float(f1), 4)
        if w > 0:
            blend[head] = [tfidf_name, w]
        log.info("%s: w=%.2f dev WF1 %.4f -> test %s", head, w, f1, metrics)
    card["blend"] = blend
    card["metrics"].update(metrics)
    card["files"] = {f: sha256(MODEL_DIR / f) for f in card["files"]}
    if "words_blend.py" not in card["retrain"]:
        card["retrain"] += " && flock /tmp/affectlens-heavy.lock nice -n 5 python training/words_blend.py"
    (MODEL_DIR / "card.json").write_text(json.dumps(card, indent=2) + "\n")


if __name__ == "__main__":
    main()
