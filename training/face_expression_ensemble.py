"""Assemble the shipped expression model from independently trained networks (an ensemble).

Why
---
Two networks of the same shape trained from different random starts make different mistakes,
so the mean of their softmax outputs is more accurate than either (a few points on FER2013),
while each still runs at several hundred faces per second on two cores. Networks of one lineage
(each cycle started from the previous release) gain little: they err on the same faces, which
``benchmarks/face_expression_ensembles.py`` measured for the first three releases. Members here
are therefore meant to come from separate ``training/face_expression.py`` runs (``--seed``).

Protocol
--------
Every member and the ensemble are scored on the validation part of FER2013 train (the split of
``split_train_val``, the same for every seed, on which each member chose its best epoch); flip
averaging (``--flip auto``) is turned on only when it helps the ensemble there; ``--flip off``
keeps one pass per member, for when the doubled cost would break the speed goal (≥ 300 faces/s
on two cores: two members with flip are four passes, about 210 faces/s). The test split is
scored once, for the card. Nothing is written with ``--validate-only``, which also leaves the test split alone.

The output folder holds each member's ONNX file (the first keeps the single model's file name,
so ``--init .../face_expression.onnx`` still starts a new cycle from it) and a card that lists
them under ``members``; :class:`~affectlens.modalities.face.expression.ExpressionClassifier`
averages them. Each member's own card (cycles, metrics, how to retrain it) is kept under
``member_cards``.

Usage::

    python training/face_expression_ensemble.py --validate-only \\
        --member src/affectlens/models/face-expression --member work_data/face_expression_seed1/model
    python training/face_expression_ensemble.py \\
        --member src/affectlens/models/face-expression --member work_data/face_expression_seed1/model
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from face_expression_data import load_cache, split_train_val  # noqa: E402

from affectlens.core.data import REPO_ROOT  # noqa: E402
from affectlens.modalities.face.expression import ExpressionClassifier  # noqa: E402
from affectlens.models.registry import get_card  # noqa: E402

log = logging.getLogger("affectlens.training.face_expression_ensemble")

MODEL_DIR = REPO_ROOT / "src" / "affectlens" / "models" / "face-expression"
ONNX_NAME = "face_expression.onnx"
# what every member must share with the others, so one crop feeds them all and one label set comes out
MUST_MATCH = ("labels", "label_mapping", "crop_size", "crop", "input")
SHARED_KEYS = (*MUST_MATCH, "data", "licence")  # copied from the first member's card


def _rel(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def read_member(folder: Path) -> dict:
    """A single network's card (raw JSON, checksums verified); an ensemble is refused."""
    get_card(str(folder))  # sha256 of its files
    card = json.loads((folder / "card.json").read_text())
    if card.get("members"):
        raise SystemExit(f"{folder} is already an ensemble ({card['members']}); pass the folders of the "
                         "single networks (see its card's member_cards for how each was trained)")
    onnx_files = [f for f in card["files"] if f.endswith(".onnx")]
    if len(onnx_files) != 1:
        raise SystemExit(f"{folder} has ONNX files {onnx_files}; a member is one network")
    return card


def member_file_names(n: int) -> list[str]:
    """The first member keeps the single model's name; the others are numbered."""
    return [ONNX_NAME] + [f"face_expression_{i}.onnx" for i in range(1, n)]


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return round(float(accuracy_score(y, p.argmax(1))), 4)


def assemble(members: list[Path], cards: list[dict], out: Path, tta_flip: bool, metrics: dict,
             validation: dict, flip_option: str = "auto") -> None:
    """Write the ensemble folder (atomically: built beside ``out``, then swapped in)."""
    names = member_file_names(len(members))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a model folder is read by everyone
    for folder, card, name in zip(members, cards, names, strict=True):
        (src,) = [f for f in card["files"] if f.endswith(".onnx")]
        shutil.copyfile(folder / src, tmp / name)
    for extra in ("README.md",):  # the human card stays with the folder it describes
        if (out / extra).is_file():
            shutil.copyfile(out / extra, tmp / extra)
    steps: list[str] = []
    for card in cards:
        steps += [s for s in card.get("retrain", "").split(" && ") if s and s not in steps]
    steps.append("python training/face_expression_ensemble.py "
                 + " ".join(f"--member {_rel(m)}" for m in members)
                 + ("" if flip_option == "auto" else f" --flip {flip_option}")
                 + ("" if out.resolve() == MODEL_DIR.resolve() else f" --out {_rel(out)}"))
    card = {
        "name": "face-expression" if out.resolve() == MODEL_DIR.resolve() else out.name,
        "task": "face-expression",
        "files": {n: hashlib.sha256((tmp / n).read_bytes()).hexdigest() for n in names},
        "members": names,
        **{k: cards[0][k] for k in SHARED_KEYS if k in cards[0]},
        "metrics": metrics,
        "retrain": " && ".join(steps),
        "tta_flip": tta_flip,
        "output": "each member: logits over labels; the ensemble is the mean of the members' softmax",
        "parameters": sum(int(c.get("parameters", 0)) for c in cards),
        "validation": validation,
        "member_cards": {n: {k: v for k, v in c.items() if k not in (*SHARED_KEYS, "output", "name", "task", "files")}
                         for n, c in zip(names, cards, strict=True)},
    }
    (tmp / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    if out.exists():
        old = out.with_name(f".{out.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)
    log.info("wrote %s (%s)", out, ", ".join(names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--member", type=Path, action="append", required=True,
                        help="folder of a single trained network (card.json + ONNX); repeat")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--flip", choices=("auto", "on", "off"), default="auto",
                        help="average each member with the mirror image: auto = where it helps on validation")
    parser.add_argument("--validate-only", action="store_true",
                        help="score members and ensemble on validation; write nothing, leave test alone")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if len(args.member) < 2:
        raise SystemExit("an ensemble needs at least two --member folders")
    cards = [read_member(m) for m in args.member]
    for key in MUST_MATCH:
        if len({json.dumps(c.get(key), sort_keys=True) for c in cards}) > 1:
            raise SystemExit(f"members disagree on {key!r}; they must take the same crops and give the same labels")

    data = load_cache()
    is_train, is_test = data["split"] == "train", data["split"] == "test"
    _, va = split_train_val(data["labels"][is_train])
    x_va = data["crops"][is_train][va].astype(np.float32) / 255.0
    y_va = data["labels"][is_train][va]
    probs = {}  # (member index, flip) -> validation probabilities
    for i, folder in enumerate(args.member):
        for flip in (False, True):
            probs[(i, flip)] = ExpressionClassifier(str(folder), flip=flip, threads=2).predict(x_va)
    validation = {"faces": int(len(y_va)), "members": {}, "ensemble": {}}
    for i, (folder, name) in enumerate(zip(args.member, member_file_names(len(args.member)), strict=True)):
        validation["members"][name] = {"from": _rel(folder), **{view: accuracy(y_va, probs[(i, flip)])
                                                                for view, flip in (("plain", False), ("flip", True))}}
    for view, flip in (("plain", False), ("flip", True)):
        mean = np.mean([probs[(i, flip)] for i in range(len(args.member))], axis=0)
        validation["ensemble"][view] = accuracy(y_va, mean)
    log.info("validation accuracy: %s", json.dumps(validation))
    use_flip = {"on": True, "off": False}.get(args.flip, validation["ensemble"]["flip"] > validation["ensemble"]["plain"])
    if args.validate_only:
        log.info("--validate-only: nothing written, test split not scored (flip would be %s)", use_flip)
        return

    x_te = data["crops"][is_test].astype(np.float32) / 255.0
    y_te = data["labels"][is_test]
    p_te = np.mean([ExpressionClassifier(str(m), flip=use_flip, threads=2).predict(x_te) for m in args.member],
                   axis=0)
    metrics = {"fer2013_test_accuracy": accuracy(y_te, p_te),
               "fer2013_test_macro_f1": round(float(f1_score(y_te, p_te.argmax(1), average="macro")), 4),
               "fer2013_val_accuracy": validation["ensemble"]["flip" if use_flip else "plain"]}
    log.info("FER2013 test (%d faces), flip=%s: accuracy %.4f, macro-F1 %.4f", len(y_te), use_flip,
             metrics["fer2013_test_accuracy"], metrics["fer2013_test_macro_f1"])
    assemble(args.member, cards, args.out, use_flip, metrics, validation, args.flip)


if __name__ == "__main__":
    main()
