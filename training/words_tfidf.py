"""Train the encoder-free fallback text models: TF-IDF word+char n-grams + logistic regression.

Writes ``src/affectlens/models/text-emotion-tfidf/`` (MELD 7 emotions) and
``src/affectlens/models/text-sentiment-tfidf/`` (MELD sentiment). C and class weighting are picked
by weighted F1 on MELD dev; the test split is only scored once, for the card.

    python training/words_tfidf.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from affectlens.modalities.words.corpora import MELD_EMOTIONS, MELD_SENTIMENTS, load_meld
from affectlens.modalities.words.tfidf import analyze

log = logging.getLogger("words_tfidf")
MODELS = Path(__file__).resolve().parents[1] / "src" / "affectlens" / "models"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train(target: str, min_df: int, grid: list[float]) -> dict:
    """Fit on train, choose (C, class_weight) on dev, score test once; returns the parts to save."""
    train_s, dev_s, test_s = (load_meld(s) for s in ("train", "dev", "test"))
    y_of = (lambda s: s.emotions) if target == "emotion" else (lambda s: s.sentiments)
    vec = TfidfVectorizer(analyzer=analyze, sublinear_tf=True, min_df=min_df, dtype=np.float64)
    x_train = vec.fit_transform(train_s.texts)
    x_dev, x_test = vec.transform(dev_s.texts), vec.transform(test_s.texts)
    best = None
    for cw in (None, "balanced"):
        for c in grid:
            clf = LogisticRegression(C=c, max_iter=3000, class_weight=cw).fit(x_train, y_of(train_s))
            f1 = f1_score(y_of(dev_s), clf.predict(x_dev), average="weighted")
            log.info("%s C=%g class_weight=%s dev WF1=%.4f", target, c, cw, f1)
            if best is None or f1 > best[0]:
                best = (f1, c, cw, clf)
    dev_f1, c, cw, clf = best
    pred = clf.predict(x_test)
    y_test = y_of(test_s)
    metrics = {
        "meld_dev_weighted_f1": round(float(dev_f1), 4),
        "meld_test_weighted_f1": round(float(f1_score(y_test, pred, average="weighted")), 4),
        "meld_test_macro_f1": round(float(f1_score(y_test, pred, average="macro")), 4),
        "meld_test_accuracy": round(float((pred == y_test).mean()), 4),
    }
    log.info("%s chosen C=%g class_weight=%s -> %s", target, c, cw, metrics)
    return {"vectorizer": vec, "clf": clf, "C": c, "class_weight": cw, "metrics": metrics, "min_df": min_df}


def save(name: str, task: str, labels: tuple[str, ...], label_mapping: str | None, fit: dict, retrain: str) -> None:
    folder = MODELS / name
    folder.mkdir(parents=True, exist_ok=True)
    vec, clf = fit["vectorizer"], fit["clf"]
    vocab = {k: int(v) for k, v in sorted(vec.vocabulary_.items(), key=lambda kv: kv[1])}
    (folder / "vocabulary.json").write_text(json.dumps(vocab, ensure_ascii=False, separators=(",", ":")))
    np.savez_compressed(folder / "weights.npz", idf=vec.idf_.astype(np.float32),
                        coef=clf.coef_.astype(np.float32), intercept=clf.intercept_.astype(np.float32))
    files = {f: sha256(folder / f) for f in ("vocabulary.json", "weights.npz")}
    card = {
        "name": name, "task": task, "files": files, "labels": list(labels), "label_mapping": label_mapping,
        "data": "MELD (declare-lab/MELD @ 2d2011b) train split; C and class weighting chosen on dev",
        "licence": "GPL-3.0 (inherits MELD's repository licence)",
        "metrics": fit["metrics"], "retrain": retrain,
        "features": "tf-idf (sublinear tf, smooth idf, L2) over word 1-2-grams 'w:' and char_wb 2-5-grams 'c:'",
        "min_df": fit["min_df"], "C": fit["C"], "class_weight": fit["class_weight"],
        "n_features": len(vocab), "trained": dt.date.today().isoformat(),
    }
    (folder / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    log.info("wrote %s (%d features)", folder, len(vocab))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min-df", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    grid = [0.5, 1, 2, 4, 8, 16, 32]
    retrain = "python training/words_tfidf.py"
    emo = train("emotion", args.min_df, grid)
    save("text-emotion-tfidf", "text-emotion", MELD_EMOTIONS, "meld", emo, retrain)
    sent = train("sentiment", args.min_df, grid)
    save("text-sentiment-tfidf", "text-sentiment", MELD_SENTIMENTS, None, sent, retrain)


if __name__ == "__main__":
    main()
