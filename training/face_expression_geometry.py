"""Train the expression model's geometry head and choose its fusion weight on shifted validation.

The shipped expression model is the CNN ensemble (``face_expression_ensemble.py``) plus a head
on the face mesh's shape (:mod:`affectlens.modalities.face.expression_geometry`); their
log-probabilities are added, the head's times a weight ``w``:
``log p = log p_cnn + w * log p_geometry`` (renormalised). This script

1. reads the cached geometry (``face_geometry_data.py``): the mesh of every FER2013 face
   (upscaled to 192 px) and of one shifted re-rendering of every training face, validation
   face and test face;
2. trains the head (one hidden layer, ReLU, dropout) on the training slice, original and
   shifted renders together, with **shift-aware augmentation in shape space**: mirror images
   (landmarks swapped left/right), **expression intensity** (each face pushed along its class's
   mean displacement from neutral by a random factor, since posed faces are more intense than
   FER2013's), small landmark noise; and a **class-balanced loss** (weights ``(n / n_c) ** beta``,
   which lifts disgust, 1.5 % of FER2013);
3. chooses the hidden width, ``beta`` and ``w`` on validation: the mean of the accuracy on the
   validation slice as FER2013 shows it and on the same faces re-rendered (the shifted split),
   macro-F1 breaking ties; the CNN alone is ``w = 0``;
4. compares blendshapes (FaceLandmarker's 52 scores) with the mesh shape on validation, to
   decide whether the pipeline should pay for FaceLandmarker at run time;
5. with ``--export``, tests once (FER2013 test and the shifted test renders) and writes the head
   into the model folder with the card's ``geometry`` entry: opt-in (``"default": false``, the
   classifier uses it when asked) unless ``--make-default``, which also makes its flip choice and
   figures the card's own.

Usage::

    flock /tmp/affectlens-heavy.lock nice -n 5 python training/face_expression_geometry.py            # choose
    flock /tmp/affectlens-heavy.lock nice -n 5 python training/face_expression_geometry.py --export   # + test, write
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from face_expression_data import load_cache, split_train_val  # noqa: E402
from face_geometry_data import BASE, SHIFTED  # noqa: E402

from affectlens.core.data import REPO_ROOT  # noqa: E402
from affectlens.core.labels import LABELS  # noqa: E402
from affectlens.modalities.face.expression import MODEL_NAME, ExpressionClassifier  # noqa: E402
from affectlens.modalities.face.expression_geometry import frontal_landmarks, shape_features  # noqa: E402

log = logging.getLogger("affectlens.training.face_expression_geometry")

MODEL_DIR = REPO_ROOT / "src" / "affectlens" / "models" / "face-expression"
HEAD_FILE = "geometry_head.npz"
CNN_CACHE = REPO_ROOT / "work_data" / "face_geometry_cnn_probs_{tag}.npz"
RESULTS = REPO_ROOT / "benchmarks" / "results" / "face_expression_geometry_training.json"
WEIGHTS = np.round(np.arange(0.0, 1.51, 0.05), 2)
NEUTRAL, DISGUST, ANGRY = LABELS.index("neutral"), LABELS.index("disgust"), LABELS.index("angry")


# --- data ----------------------------------------------------------------------------------


def cnn_probs(model: str, sets: dict[str, np.ndarray], flip: bool = False) -> dict[str, np.ndarray]:
    """The CNN ensemble's probabilities for each named set of uint8 crops (cached per member files and flip)."""
    from affectlens.models.registry import get_card

    card = get_card(model)
    members = card.extra.get("members") or [f for f in card.files if f.endswith(".onnx")]
    tag = hashlib.sha256("".join(sorted(card.files[m] for m in members)).encode()).hexdigest()[:12]
    path = CNN_CACHE.with_name(CNN_CACHE.name.format(tag=f"{tag}{'_flip' if flip else ''}"))
    cached = dict(np.load(path)) if path.is_file() else {}
    clf = ExpressionClassifier(model, threads=2, flip=flip, geometry=False)
    changed = False
    for name, crops in sets.items():
        if name not in cached or len(cached[name]) != len(crops):
            t0 = time.perf_counter()
            cached[name] = clf.predict(crops.astype(np.float32) / 255.0)
            log.info("CNN on %s: %d crops in %.1f s", name, len(crops), time.perf_counter() - t0)
            changed = True
    if changed:
        np.savez(path, **cached)
    return {k: cached[k] for k in sets}


def load_sets() -> dict[str, dict[str, np.ndarray]]:
    """Every evaluation and training set: labels, landmarks, mesh_ok, crops, blendshapes."""
    data = load_cache()
    base = dict(np.load(BASE))
    train_idx = np.flatnonzero(data["split"] == "train")
    fit, val = split_train_val(data["labels"][train_idx])
    test_idx = np.flatnonzero(data["split"] == "test")
    sets = {}
    for name, idx in (("fit", train_idx[fit]), ("val", train_idx[val]), ("test", test_idx)):
        sets[name] = {"index": idx, "labels": data["labels"][idx], "landmarks": base["landmarks"][idx],
                      "mesh_ok": base["mesh_ok"][idx], "crops": data["crops"][idx],
                      "blend": base["blend"][idx], "blend_ok": base["blend_ok"][idx]}
    for split, name in (("train", "fit_shifted"), ("val", "val_shifted"), ("test", "test_shifted")):
        path = SHIFTED.with_name(SHIFTED.name.format(split=split))
        if not path.is_file():
            log.warning("%s missing (face_geometry_data.py --shifted %s)", path, split)
            continue
        s = dict(np.load(path))
        sets[name] = {k: s[k] for k in ("index", "labels", "landmarks", "mesh_ok", "crops", "blend", "blend_ok")}
    return sets


def mirror_map(mean_shape: np.ndarray) -> np.ndarray:
    """For each landmark, its mirror partner on a frontal mean shape ``[478, 2+]`` (nearest mirrored point)."""
    xy = mean_shape[:, :2]
    mirrored = xy * np.array([-1.0, 1.0])
    d = ((mirrored[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    return d.argmin(1)


# --- head ----------------------------------------------------------------------------------


class Head(nn.Module):
    def __init__(self, n_in: int, hidden: int, dropout: float = 0.3) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Dropout(0.1), nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, len(LABELS)))

    def forward(self, x):
        return self.net(x)


def train_head(x: np.ndarray, y: np.ndarray, *, hidden: int, beta: float, epochs: int = 40, seed: int = 0,
               mirror: np.ndarray | None = None, intensity: float = 0.6, noise: float = 0.02,
               weight_decay: float = 1e-3) -> dict[str, np.ndarray]:
    """Train on features ``x [N, F]`` (frontal x, y pairs when ``mirror`` is given); returns numpy arrays.

    ``mirror`` (a landmark permutation) enables mirror augmentation of (x, y) features;
    ``intensity`` the largest extra fraction of a class's mean displacement from neutral.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mean, std = x.mean(0), x.std(0) + 1e-6
    counts = np.bincount(y, minlength=len(LABELS)).astype(np.float64)
    class_w = (counts.sum() / np.maximum(counts, 1)) ** beta
    class_w /= (class_w * counts).sum() / counts.sum()
    centroids = np.stack([x[y == c].mean(0) for c in range(len(LABELS))])
    direction = torch.from_numpy((centroids - centroids[NEUTRAL]).astype(np.float32))
    xt = torch.from_numpy(((x - mean) / std).astype(np.float32))
    yt = torch.from_numpy(y.astype(np.int64))
    mean_t, std_t = torch.from_numpy(mean.astype(np.float32)), torch.from_numpy(std.astype(np.float32))
    perm = None
    if mirror is not None:
        n_pts = x.shape[1] // 2
        perm = torch.from_numpy(np.stack([2 * mirror, 2 * mirror + 1], 1).reshape(-1)[: 2 * n_pts])
        sign = torch.tensor([-1.0, 1.0]).repeat(n_pts)
    model = Head(x.shape[1], hidden)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=weight_decay)
    steps = epochs * int(np.ceil(len(x) / 256))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss(weight=torch.from_numpy(class_w.astype(np.float32)), label_smoothing=0.05)
    model.train()
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(x)))
        for i in range(0, len(x), 256):
            b = order[i:i + 256]
            xb = xt[b] * std_t + mean_t  # raw features, augmented in shape space
            yb = yt[b]
            if intensity > 0:
                a = torch.from_numpy(rng.uniform(0, intensity, len(b)).astype(np.float32))
                a = a * torch.from_numpy((rng.random(len(b)) < 0.5).astype(np.float32))
                xb = xb + a[:, None] * direction[yb]
            if perm is not None:
                flip = torch.from_numpy(rng.random(len(b)) < 0.5)
                xb[flip] = xb[flip][:, perm] * sign
            if noise > 0:
                xb = xb + noise * torch.randn_like(xb)
            loss = loss_fn(model((xb - mean_t) / std_t), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    lin1, lin2 = model.net[1], model.net[4]
    w1 = lin1.weight.detach().numpy().T.astype(np.float64) / std[:, None]
    b1 = lin1.bias.detach().numpy().astype(np.float64) - mean @ w1
    return {"w1": w1.astype(np.float32), "b1": b1.astype(np.float32),
            "w2": lin2.weight.detach().numpy().T.copy(), "b2": lin2.bias.detach().numpy().copy(),
            "class_weights": class_w.astype(np.float32)}


def head_log_proba(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    h = np.maximum(x @ arrays["w1"] + arrays["b1"], 0.0)
    z = (h @ arrays["w2"] + arrays["b2"]).astype(np.float64)
    z -= z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def fuse(p_cnn: np.ndarray, logp_geo: np.ndarray, ok: np.ndarray, w: float) -> np.ndarray:
    """``log p_cnn + w log p_geo`` renormalised where the mesh fitted; the CNN alone elsewhere."""
    z = np.log(np.clip(p_cnn, 1e-8, 1.0)).astype(np.float64)
    z[ok] += w * logp_geo[ok]
    z -= z.max(1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(1, keepdims=True)


def scores(y: np.ndarray, p: np.ndarray) -> dict:
    pred = p.argmax(1)
    cm = confusion_matrix(y, pred, labels=range(len(LABELS)))
    n_dis = max(1, cm[DISGUST].sum())
    return {"accuracy": round(float(accuracy_score(y, pred)), 4),
            "macro_f1": round(float(f1_score(y, pred, average="macro")), 4),
            "disgust_recall": round(float(cm[DISGUST, DISGUST] / n_dis), 4),
            "disgust_as_angry": round(float(cm[DISGUST, ANGRY] / n_dis), 4),
            "confusion_matrix": cm.tolist()}


def brief(s: dict) -> str:
    return (f"acc {100 * s['accuracy']:.2f} F1 {100 * s['macro_f1']:.2f} disgust {100 * s['disgust_recall']:.1f} "
            f"(->angry {100 * s['disgust_as_angry']:.1f})")


def best_weight(y_val, p_val, g_val, ok_val, y_sh, p_sh, g_sh, ok_sh) -> tuple[float, list[dict]]:
    """The fusion weight with the best mean of validation and shifted-validation accuracy (macro-F1 breaks ties)."""
    rows = []
    for w in WEIGHTS:
        a, b = scores(y_val, fuse(p_val, g_val, ok_val, w)), scores(y_sh, fuse(p_sh, g_sh, ok_sh, w))
        rows.append({"weight": float(w), "val_accuracy": a["accuracy"], "val_macro_f1": a["macro_f1"],
                     "shifted_val_accuracy": b["accuracy"], "shifted_val_macro_f1": b["macro_f1"],
                     "objective": round((a["accuracy"] + b["accuracy"]) / 2, 5),
                     "tie": round((a["macro_f1"] + b["macro_f1"]) / 2, 5)})
    best = max(rows, key=lambda r: (r["objective"], r["tie"]))
    return best["weight"], rows


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cnn", default=MODEL_NAME, help="the CNN ensemble (model name or folder)")
    parser.add_argument("--hidden", type=int, action="append", help="hidden widths to try (default 256, 512)")
    parser.add_argument("--beta", type=float, action="append", help="class-balance exponents to try (default 0.5)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--flip", choices=("off", "on", "auto"), default="auto",
                        help="average each CNN member with the mirror image: auto = where it helps on validation")
    parser.add_argument("--no-blendshapes", action="store_true", help="skip the blendshape comparison")
    parser.add_argument("--export", action="store_true", help="test once and write the head into --out")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--make-default", action="store_true",
                        help="with --export: the head (and its flip choice) become the card's default")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(2)

    sets = load_sets()
    needed = ["val", "val_shifted", "test", "test_shifted"] if args.export else ["val", "val_shifted"]
    flips = {"off": [False], "on": [True], "auto": [False, True]}[args.flip]
    probs_by_flip = {f: cnn_probs(args.cnn, {k: sets[k]["crops"] for k in needed if k in sets}, flip=f) for f in flips}
    feats = {k: shape_features(s["landmarks"]) for k, s in sets.items()}
    fit_ok = sets["fit"]["mesh_ok"]
    mean_shape = frontal_landmarks(sets["fit"]["landmarks"][fit_ok][:2000]).mean(0)
    mirror = mirror_map(mean_shape)
    log.info("mirror map: %d of 478 points are their own partner, involution on %d", int((mirror == np.arange(478)).sum()),
             int((mirror[mirror] == np.arange(478)).sum()))
    x_parts, y_parts = [feats["fit"][fit_ok]], [sets["fit"]["labels"][fit_ok]]
    if "fit_shifted" in sets:
        ok = sets["fit_shifted"]["mesh_ok"]
        x_parts.append(feats["fit_shifted"][ok])
        y_parts.append(sets["fit_shifted"]["labels"][ok])
    x_fit, y_fit = np.concatenate(x_parts), np.concatenate(y_parts)
    log.info("training faces: %d (%d original, %d shifted renders)", len(x_fit), len(x_parts[0]),
             len(x_fit) - len(x_parts[0]))
    v, vs = sets["val"], sets["val_shifted"]
    report: dict = {"training_faces": int(len(x_fit)), "validation_faces": int(len(v["labels"])),
                    "mesh_fitted": {k: round(float(s["mesh_ok"].mean()), 4) for k, s in sets.items()},
                    "cnn_alone": {}, "candidates": []}
    for f, probs in probs_by_flip.items():
        report["cnn_alone"]["flip" if f else "plain"] = {"val": scores(v["labels"], probs["val"]),
                                                          "shifted_val": scores(vs["labels"], probs["val_shifted"])}
        log.info("CNN alone (flip %s): val %s | shifted val %s", f, brief(scores(v["labels"], probs["val"])),
                 brief(scores(vs["labels"], probs["val_shifted"])))

    best = None
    for hidden in args.hidden or [256, 512]:
        for beta in args.beta or [0.5]:
            t0 = time.perf_counter()
            head = train_head(x_fit, y_fit, hidden=hidden, beta=beta, epochs=args.epochs, mirror=mirror)
            g_val, g_sh = head_log_proba(head, feats["val"]), head_log_proba(head, feats["val_shifted"])
            for f, probs in probs_by_flip.items():
                w, rows = best_weight(v["labels"], probs["val"], g_val, v["mesh_ok"], vs["labels"],
                                      probs["val_shifted"], g_sh, vs["mesh_ok"])
                cand = {"hidden": hidden, "beta": beta, "flip": f, "seconds": round(time.perf_counter() - t0, 1),
                        "head_alone": {"val": scores(v["labels"][v["mesh_ok"]], np.exp(g_val[v["mesh_ok"]])),
                                       "shifted_val": scores(vs["labels"][vs["mesh_ok"]], np.exp(g_sh[vs["mesh_ok"]]))},
                        "weight": w, "weights": rows,
                        "fused": {"val": scores(v["labels"], fuse(probs["val"], g_val, v["mesh_ok"], w)),
                                  "shifted_val": scores(vs["labels"], fuse(probs["val_shifted"], g_sh, vs["mesh_ok"], w))}}
                report["candidates"].append(cand)
                log.info("hidden %d beta %.2f flip %s: head alone val %s | shifted %s", hidden, beta, f,
                         brief(cand["head_alone"]["val"]), brief(cand["head_alone"]["shifted_val"]))
                log.info("   fused w=%.2f: val %s | shifted %s", w, brief(cand["fused"]["val"]),
                         brief(cand["fused"]["shifted_val"]))
                key = (cand["fused"]["val"]["accuracy"] + cand["fused"]["shifted_val"]["accuracy"],
                       cand["fused"]["val"]["macro_f1"] + cand["fused"]["shifted_val"]["macro_f1"])
                if best is None or key > best[0]:
                    best = (key, cand, head)
    _, chosen, head = best
    probs = probs_by_flip[chosen["flip"]]
    report["chosen"] = {"hidden": chosen["hidden"], "beta": chosen["beta"], "flip": chosen["flip"],
                        "weight": chosen["weight"]}
    log.info("chosen: %s", report["chosen"])

    if not args.no_blendshapes:
        report["blendshapes"] = compare_blendshapes(sets, feats, probs, chosen, args.epochs, mirror)

    if args.export:
        report["test"] = export(args, sets, feats, probs, head, chosen, mirror)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report["command"] = " ".join(["python training/face_expression_geometry.py", *sys.argv[1:]])
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    log.info("wrote %s", RESULTS)


def compare_blendshapes(sets, feats, probs, chosen, epochs, mirror) -> dict:
    """Blendshapes vs mesh shape vs both, each head trained on the original training faces only
    (no shifted renders: FaceLandmarker did not run on those), fused with the CNN on validation."""
    fit, v, vs = sets["fit"], sets["val"], sets["val_shifted"]
    out = {"note": "heads trained on the original training faces where both the mesh and FaceLandmarker "
                   "found the face; fused with the CNN at the weight chosen on validation; faces without "
                   "either fall back to the CNN"}
    both_fit = fit["mesh_ok"] & fit["blend_ok"]
    variants = {
        "mesh_shape": lambda k: feats[k],
        "blendshapes": lambda k: sets[k]["blend"],
        "mesh_shape+blendshapes": lambda k: np.concatenate([feats[k], 10 * sets[k]["blend"]], 1),
    }
    for name, get in variants.items():
        head = train_head(get("fit")[both_fit], fit["labels"][both_fit], hidden=chosen["hidden"], beta=chosen["beta"],
                          epochs=epochs, mirror=None, intensity=0.6 if name != "blendshapes" else 0.0,
                          noise=0.02 if name == "mesh_shape" else 0.0)
        ok_v, ok_s = v["mesh_ok"] & v["blend_ok"], vs["mesh_ok"] & vs["blend_ok"]
        g_val, g_sh = head_log_proba(head, get("val")), head_log_proba(head, get("val_shifted"))
        w, _ = best_weight(v["labels"], probs["val"], g_val, ok_v, vs["labels"], probs["val_shifted"], g_sh, ok_s)
        out[name] = {"head_alone_val_accuracy": scores(v["labels"][ok_v], np.exp(g_val[ok_v]))["accuracy"],
                     "head_alone_shifted_val_accuracy": scores(vs["labels"][ok_s], np.exp(g_sh[ok_s]))["accuracy"],
                     "weight": w, "fused_val": brief(scores(v["labels"], fuse(probs["val"], g_val, ok_v, w))),
                     "fused_shifted_val": brief(scores(vs["labels"], fuse(probs["val_shifted"], g_sh, ok_s, w)))}
        log.info("%s: %s", name, out[name])
    return out


def export(args, sets, feats, probs, head, chosen, mirror) -> dict:
    """Test once, write the head file and the card's geometry entry."""
    t, ts = sets["test"], sets["test_shifted"]
    w = chosen["weight"]
    g_t, g_ts = head_log_proba(head, feats["test"]), head_log_proba(head, feats["test_shifted"])
    result = {"cnn_alone": {"test": scores(t["labels"], probs["test"]),
                            "shifted_test": scores(ts["labels"], probs["test_shifted"])},
              "fused": {"test": scores(t["labels"], fuse(probs["test"], g_t, t["mesh_ok"], w)),
                        "shifted_test": scores(ts["labels"], fuse(probs["test_shifted"], g_ts, ts["mesh_ok"], w))}}
    log.info("TEST cnn alone %s | fused %s", brief(result["cnn_alone"]["test"]), brief(result["fused"]["test"]))
    log.info("SHIFTED TEST cnn alone %s | fused %s", brief(result["cnn_alone"]["shifted_test"]),
             brief(result["fused"]["shifted_test"]))
    out = args.out
    path = out / HEAD_FILE
    np.savez(path, w1=head["w1"], b1=head["b1"], w2=head["w2"], b2=head["b2"])
    card_path = out / "card.json"
    card = json.loads(card_path.read_text())
    card["files"][HEAD_FILE] = hashlib.sha256(path.read_bytes()).hexdigest()
    old = card.get("geometry", {})
    card["geometry"] = {
        "file": HEAD_FILE, "weight": w, "hidden": chosen["hidden"], "class_balance_beta": chosen["beta"],
        "epochs": args.epochs, "chosen_on": "mean accuracy of the FER2013 validation slice and its shifted renders",
        "features": "frontal (x, y) of the 478 MediaPipe mesh points in inter-ocular distances "
                    "(affectlens.modalities.face.expression_geometry.shape_features)",
        "fusion": "log p = log p_cnn + weight * log p_geometry, renormalised; the CNN alone where no mesh fits",
        "default": bool(args.make_default), "tta_flip": bool(chosen["flip"]),
        "metrics": {"fer2013_test_accuracy": result["fused"]["test"]["accuracy"],
                    "fer2013_test_macro_f1": result["fused"]["test"]["macro_f1"],
                    "fer2013_val_accuracy": chosen["fused"]["val"]["accuracy"],
                    "shifted_val_accuracy": chosen["fused"]["shifted_val"]["accuracy"],
                    "shifted_test_accuracy": result["fused"]["shifted_test"]["accuracy"],
                    f"fer2013_test_accuracy_cnn_{'flip_' if chosen['flip'] else ''}alone":
                        result["cnn_alone"]["test"]["accuracy"]},
    }
    if not args.make_default and "why_not_default" in old:
        card["geometry"]["why_not_default"] = old["why_not_default"]
    steps = [c for c in card.get("retrain", "").split(" && ") if c and "face_geometry_data.py" not in c
             and "face_expression_geometry.py" not in c]
    steps += ["flock /tmp/affectlens-heavy.lock nice -n 5 python training/face_geometry_data.py --base --shifted val "
              "--shifted test",
              "flock /tmp/affectlens-heavy.lock nice -n 5 python training/face_geometry_data.py --shifted train --seed 1 "
              "--no-blendshapes",
              "flock /tmp/affectlens-heavy.lock nice -n 5 python "
              + " ".join(["training/face_expression_geometry.py", *sys.argv[1:]])]
    card["retrain"] = " && ".join(steps)
    if args.make_default:  # the card's headline figures become the fused model's
        card["tta_flip"] = bool(chosen["flip"])
        card["metrics"].update({k: v for k, v in card["geometry"]["metrics"].items() if "cnn" not in k})
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    log.info("wrote %s and the card's geometry entry (weight %.2f)", path, w)
    return result


if __name__ == "__main__":
    main()
