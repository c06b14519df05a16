"""Out of domain: the MELD-trained text emotion models on text they never saw the like of.

MELD is one TV series; the models are also judged on other conversations. Two corpora here
share most of MELD's classes and were never used to train or tune the emotion heads:

* GoEmotions, Ekman version, test split, single-label comments only (Reddit; 7 classes, the
  same set as MELD's): weighted and macro F1.
* ISEAR (self-reported situations; 7,665 rows): the 5 classes shared with MELD (joy, fear,
  anger, sadness, disgust; shame and guilt rows left out), prediction = the most probable of
  those 5: accuracy and macro F1.

Each text is read alone (its own dialogue). Models, in one run: the shipped encoder model,
optionally an earlier release's model folder (``--compare DIR``, e.g. a ``git worktree`` of an
older commit), and the TF-IDF fallback.

    flock /tmp/affectlens-heavy.lock nice -n 5 python benchmarks/words_transfer.py [--compare DIR]

The results file was made with the release before the dialogue layer as ``DIR``::

    mkdir -p work_data/words/previous-model
    git archive 51a5a87 src/affectlens/models/text-emotion-minilm | tar -x -C work_data/words/previous-model
    python benchmarks/words_transfer.py --compare work_data/words/previous-model/src/affectlens/models/text-emotion-minilm
"""

from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score
from words_common import write

from affectlens.core.data import dataset_path
from affectlens.modalities.words.corpora import MELD_EMOTIONS, normalise_text
from affectlens.modalities.words.predict import MiniLMPredictor, TfidfPredictor

log = logging.getLogger("words_transfer")
ISEAR_SHARED = ("joy", "fear", "anger", "sadness", "disgust")


def goemotions_ekman_test() -> tuple[list[str], np.ndarray]:
    names = dataset_path("text", "goemotions", "ekman", "labels.txt").read_text().split()
    df = pd.read_csv(dataset_path("text", "goemotions", "ekman", "test.tsv"), sep="\t", header=None,
                     names=["text", "labels", "id"], quoting=3, dtype=str)
    single = df[df["labels"].str.fullmatch(r"\d+")]
    y = np.array([MELD_EMOTIONS.index(names[int(k)]) for k in single["labels"]])
    return [normalise_text(t) for t in single["text"]], y


def isear_shared() -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    with open(dataset_path("text", "isear", "isear.csv"), encoding="latin-1", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="|"):
            label, text = (row.get("Field1") or "").strip(), normalise_text(row.get("SIT"))
            if label in ISEAR_SHARED and text:
                texts.append(text)
                labels.append(MELD_EMOTIONS.index(label))
    return texts, np.array(labels)


def native_probs(model, texts: list[str]) -> np.ndarray:
    preds = model.predict(texts, None, [str(i) for i in range(len(texts))])
    return np.array([[p.native_probs[k] for k in MELD_EMOTIONS] for p in preds])


def scores(probs: np.ndarray, goemo_y: np.ndarray, isear_p: np.ndarray, isear_y: np.ndarray) -> dict:
    g = probs.argmax(1)
    allowed = [MELD_EMOTIONS.index(k) for k in ISEAR_SHARED]
    i = np.array(allowed)[isear_p[:, allowed].argmax(1)]
    return {
        "goemotions_ekman_weighted_f1": round(float(f1_score(goemo_y, g, average="weighted")), 4),
        "goemotions_ekman_macro_f1": round(float(f1_score(goemo_y, g, average="macro")), 4),
        "isear_5class_accuracy": round(float((i == isear_y).mean()), 4),
        "isear_5class_macro_f1": round(float(f1_score(isear_y, i, average="macro")), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compare", type=Path, help="another text-emotion-minilm model folder to score alongside")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    g_texts, g_y = goemotions_ekman_test()
    i_texts, i_y = isear_shared()
    log.info("GoEmotions-Ekman single-label test: %d, ISEAR shared classes: %d", len(g_texts), len(i_texts))
    models = {"shipped": MiniLMPredictor(occlusion_words=0)}
    if args.compare:
        models["compare"] = MiniLMPredictor(str(args.compare), occlusion_words=0)
    models["tfidf"] = TfidfPredictor(top_words=0)
    figures: dict = {"n_goemotions_ekman": len(g_texts), "n_isear": len(i_texts),
                     "class_counts_goemotions_ekman": {k: int((g_y == j).sum()) for j, k in enumerate(MELD_EMOTIONS)}}
    for name, model in models.items():
        figures[name] = {"model": model.name, "card_features": getattr(model, "card", None) and model.card.extra.get("features"),
                         **scores(native_probs(model, g_texts), g_y, native_probs(model, i_texts), i_y)}
        log.info("%s: %s", name, figures[name])
    if args.compare:
        figures["compare"]["folder"] = str(args.compare)
    write("words_transfer", figures, dataset="GoEmotions Ekman test (single-label) and ISEAR (5 shared classes)",
          split="test (GoEmotions); all rows (ISEAR)")


if __name__ == "__main__":
    main()
