"""Open-vocabulary head: GoEmotions' 27 emotions + neutral on frozen MiniLM embeddings.

Compares, on GoEmotions dev, 28 one-vs-rest logistic regressions (from ``words_minilm.py heads``)
with a one-hidden-layer MLP trained with binary cross-entropy; per-label thresholds are tuned
on dev for either. The better one on dev macro-F1 replaces the ``goemotions_*`` arrays of
``text-emotion-minilm/heads.npz`` (an MLP adds ``goemotions_hidden_W``/``_b``), and the card's
metric is updated. Needs the cached embeddings of ``words_minilm.py frozen``.

    flock /tmp/affectlens-heavy.lock nice -n 5 python training/words_goemotions.py
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score

from affectlens.modalities.words.corpora import load_goemotions
from affectlens.modalities.words.encoder import l2_normalise

sys.path.insert(0, str(Path(__file__).resolve().parent))
from words_minilm import MODEL_DIR, WORK, sha256, tune_thresholds  # noqa: E402

log = logging.getLogger("words_goemotions")
SPLITS = ("train", "dev", "test")


def train_mlp(x, y, hidden: int, epochs: int, lr: float, dropout: float, seed: int):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Dropout(dropout), torch.nn.Linear(x["train"].shape[1], hidden), torch.nn.ReLU(),
                              torch.nn.Dropout(dropout), torch.nn.Linear(hidden, y["train"].shape[1]))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    xt, yt = torch.from_numpy(x["train"]), torch.from_numpy(y["train"].astype(np.float32))
    xd = torch.from_numpy(x["dev"])
    loss_fn = torch.nn.BCEWithLogitsLoss()
    best = None
    for epoch in range(1, epochs + 1):
        net.train()
        perm = torch.randperm(len(xt))
        for k in range(0, len(perm), 256):
            idx = perm[k:k + 256]
            loss = loss_fn(net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            dev = torch.sigmoid(net(xd)).numpy()
        thr = tune_thresholds(dev, y["dev"])
        f1 = f1_score(y["dev"], dev >= thr, average="macro", zero_division=0)
        if best is None or f1 > best[0]:
            best = (f1, epoch, {k: v.detach().clone() for k, v in net.state_dict().items()}, thr)
    f1, epoch, state, thr = best
    net.load_state_dict(state)
    return f1, epoch, net, thr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    x = {s: l2_normalise(np.load(WORK / f"goemo_{s}.npy")).astype(np.float32) for s in SPLITS}
    y = {s: load_goemotions(s)[1] for s in SPLITS}
    heads_path = MODEL_DIR / "heads.npz"
    with np.load(heads_path) as old:
        arrays = {k: old[k] for k in old.files}
    lin_dev = 1 / (1 + np.exp(-(x["dev"] @ arrays["goemotions_W"].T + arrays["goemotions_b"])))
    lin_f1 = f1_score(y["dev"], lin_dev >= arrays["goemotions_thresholds"], average="macro", zero_division=0)
    log.info("linear heads: dev macro-F1 %.4f", lin_f1)
    best = None
    for hidden in (512,):
        for dropout in (0.1, 0.3):
            f1, epoch, net, thr = train_mlp(x, y, hidden, epochs=20, lr=1e-3, dropout=dropout, seed=0)
            log.info("MLP hidden=%d dropout=%.1f: dev macro-F1 %.4f (epoch %d)", hidden, dropout, f1, epoch)
            if best is None or f1 > best[0]:
                best = (f1, hidden, dropout, epoch, net, thr)
    f1, hidden, dropout, epoch, net, thr = best
    summary = {"linear_dev_macro_f1": round(float(lin_f1), 4), "mlp_dev_macro_f1": round(float(f1), 4),
               "mlp": {"hidden": hidden, "dropout": dropout, "epoch": epoch}}
    if f1 <= lin_f1:
        log.info("keeping the linear heads")
        summary["chosen"] = "linear"
    else:
        net.eval()
        with torch.no_grad():
            test = torch.sigmoid(net(torch.from_numpy(x["test"]))).numpy()
        test_f1 = f1_score(y["test"], test >= thr, average="macro", zero_division=0)
        summary |= {"chosen": "mlp", "mlp_test_macro_f1": round(float(test_f1), 4)}
        arrays["goemotions_hidden_W"] = net[1].weight.detach().numpy().astype(np.float32)
        arrays["goemotions_hidden_b"] = net[1].bias.detach().numpy().astype(np.float32)
        arrays["goemotions_W"] = net[4].weight.detach().numpy().astype(np.float32)
        arrays["goemotions_b"] = net[4].bias.detach().numpy().astype(np.float32)
        arrays["goemotions_thresholds"] = thr.astype(np.float32)
        np.savez_compressed(heads_path, **arrays)
        card = json.loads((MODEL_DIR / "card.json").read_text())
        card["files"]["heads.npz"] = sha256(heads_path)
        card["metrics"]["goemotions_test_macro_f1"] = summary["mlp_test_macro_f1"]
        card["goemotions_head"] = {"kind": "mlp", "hidden": hidden, "activation": "relu", "dropout": dropout,
                                   "epoch": epoch, "thresholds": "per label, tuned on dev"}
        card["retrain"] += " && flock /tmp/affectlens-heavy.lock nice -n 5 python training/words_goemotions.py"
        (MODEL_DIR / "card.json").write_text(json.dumps(card, indent=2) + "\n")
        log.info("MLP head chosen: test macro-F1 %.4f", test_f1)
    (WORK / "goemotions_head.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
