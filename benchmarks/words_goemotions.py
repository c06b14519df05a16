"""GoEmotions test: the open-vocabulary head (28 labels, multi-label) through the run-time path.

Macro-F1 over the 28 labels with the per-label thresholds tuned on dev (Demszky et al. 2020
report 0.46 for fine-tuned BERT-base), plus micro-F1 and per-label F1.

    flock /tmp/affectlens-heavy.lock nice -n 5 python benchmarks/words_goemotions.py
"""

from __future__ import annotations

import logging
import time

import numpy as np
from sklearn.metrics import f1_score
from words_common import write

from affectlens.modalities.words.corpora import load_goemotions
from affectlens.modalities.words.predict import MiniLMPredictor


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    texts, y = load_goemotions("test")
    model = MiniLMPredictor(occlusion_words=0)
    t0 = time.perf_counter()
    # Each comment is its own conversation: GoEmotions comments are read alone.
    x = model._features("goemotions", model.conversation(texts, dialogues=[str(i) for i in range(len(texts))]), {})
    scores = 1 / (1 + np.exp(-model._head("goemotions", x)))
    seconds = time.perf_counter() - t0
    pred = scores >= model.arrays["goemotions_thresholds"]
    per = f1_score(y, pred, average=None, zero_division=0)
    figures = {
        "n_texts": len(texts),
        "model": model.name,
        "graph": model.heads_spec["goemotions"]["inputs"][0][0],
        "macro_f1": round(float(f1_score(y, pred, average="macro", zero_division=0)), 4),
        "micro_f1": round(float(f1_score(y, pred, average="micro", zero_division=0)), 4),
        "per_label_f1": {k: round(float(v), 4) for k, v in zip(model.goemotions_labels, per, strict=True)},
        "mean_labels_per_text": round(float(pred.sum(1).mean()), 3),
        "throughput_utt_per_s": round(len(texts) / seconds, 1),
        "reference_bert_base_macro_f1": 0.46,
    }
    logging.info("GoEmotions test macro-F1 %.4f micro-F1 %.4f", figures["macro_f1"], figures["micro_f1"])
    write("words_goemotions", figures, dataset="GoEmotions (monologg/GoEmotions-pytorch @ b75f9d3)", split="test")


if __name__ == "__main__":
    main()
