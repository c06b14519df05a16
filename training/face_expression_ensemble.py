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

``--int8`` ships int8 copies of the members (:func:`quantize_member`: a quarter of the size,
integer convolutions, so more members or flip averaging fit the speed goal; measure with
``benchmarks/face_expression.py --model FOLDER``); every validation and test figure is then the
int8 networks' own, so the choice is made on what ships.

A member is a single network's folder or one ONNX file inside an ensemble's folder (its card is
rebuilt from ``member_cards``), so the shipped members can join a new ensemble as they are.

The output folder holds each member's ONNX file (the first keeps the single model's file name,
so ``--init .../face_expression.onnx`` still starts a new cycle from it unless it is int8) and a card that lists
them under ``members``; :class:`~affectlens.modalities.face.expression.ExpressionClassifier`
averages them. Each member's own card (cycles, metrics, how to retrain it) is kept under
``member_cards``.

Usage::

    python training/face_expression_ensemble.py --validate-only \\
        --member src/affectlens/models/face-expression --member work_data/face_expression_seed1/model
    python training/face_expression_ensemble.py \\
        --member src/affectlens/models/face-expression --member work_data/face_expression_seed1/model
    # the shipped pair plus a new network, int8
    python training/face_expression_ensemble.py --int8 \\
        --member src/affectlens/models/face-expression/face_expression.onnx \\
        --member src/affectlens/models/face-expression/face_expression_1.onnx --member work_data/student/model
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
CALIBRATION_CROPS = 2048  # training crops that set the int8 activation ranges (seed 0)
INT8 = {"format": "onnxruntime static quantization, QOperator", "weights": "int8 per channel, reduce_range",
        "activations": "uint8, 99.999th percentile of 2048 FER2013 training crops (seed 0)"}


def _rel(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def read_member(path: Path) -> tuple[Path, dict]:
    """One network's folder and card (raw JSON, checksums verified).

    ``path`` is a single network's folder, or one ONNX file of an ensemble's folder (its card is
    rebuilt from the ensemble's shared keys and that member's ``member_cards`` entry), so a new
    ensemble can reuse the shipped members without their original folders. A whole ensemble
    folder is refused: which of its networks is meant?
    """
    if path.suffix == ".onnx":
        folder = path.parent
        get_card(str(folder))
        ensemble = json.loads((folder / "card.json").read_text())
        if path.name not in ensemble.get("member_cards", {}):
            raise SystemExit(f"{path} is not a member listed in {folder / 'card.json'}")
        card = {k: ensemble[k] for k in SHARED_KEYS if k in ensemble}
        card.update(ensemble["member_cards"][path.name], name=path.stem,
                    files={path.name: ensemble["files"][path.name]})
        return folder, card
    get_card(str(path))  # sha256 of its files
    card = json.loads((path / "card.json").read_text())
    if card.get("members"):
        raise SystemExit(f"{path} is already an ensemble ({card['members']}); pass the folders of the "
                         f"single networks or one of its files (e.g. {path / card['members'][0]})")
    onnx_files = [f for f in card["files"] if f.endswith(".onnx")]
    if len(onnx_files) != 1:
        raise SystemExit(f"{path} has ONNX files {onnx_files}; a member is one network")
    return path, card


def member_onnx(card: dict) -> str:
    """The one ONNX file a member's card names."""
    (name,) = [f for f in card["files"] if f.endswith(".onnx")]
    return name


def stage_member(folder: Path, card: dict, out: Path) -> tuple[Path, dict]:
    """A copy of one member as a single network's folder (its ONNX file and card)."""
    out.mkdir(parents=True)
    name = member_onnx(card)
    shutil.copyfile(folder / name, out / name)
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return out, card


def quantize_member(folder: Path, card: dict, out: Path, calibration: np.ndarray) -> tuple[Path, dict]:
    """An int8 copy of one member in ``out`` (integer convolutions: faster on a CPU, a quarter of the size).

    Static quantization (onnxruntime, QOperator format): weights int8 per output channel,
    activations uint8 with ranges from ``calibration`` (training crops, never validation or
    test) at the 99.999th percentile, so a few extreme pixels do not waste the 256 levels.
    ``reduce_range`` keeps weights to 7 bits: without VNNI (AVX2 only, like the 2-core AMD hosts
    here), the CPU's u8 x s8 multiply-add saturates its 16-bit sums and loses accuracy; check a
    new member's int8 validation figure (``--validate-only --int8``) against its float one.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if card.get("int8"):
        raise SystemExit(f"{folder / member_onnx(card)} is already int8; quantize its float32 original")

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(np.array_split(calibration[:, None], max(1, len(calibration) // 64)))

        def get_next(self) -> dict | None:
            batch = next(self.batches, None)
            return None if batch is None else {card["input"]["name"]: batch}

    out.mkdir(parents=True, exist_ok=True)
    name = member_onnx(card)
    prepared = out / f"prepared-{name}"
    # ONNX's own shape inference covers a conv net; the symbolic one (for transformers) needs sympy
    quant_pre_process(str(folder / name), str(prepared), skip_symbolic_shape=True)
    quantize_static(str(prepared), str(out / name), Batches(), quant_format=QuantFormat.QOperator,
                    per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.Percentile)
    prepared.unlink()
    quantized = {**card, "files": {name: hashlib.sha256((out / name).read_bytes()).hexdigest()}, "int8": INT8}
    (out / "card.json").write_text(json.dumps(quantized, indent=2) + "\n")
    return out, quantized


def member_file_names(n: int) -> list[str]:
    """The first member keeps the single model's name; the others are numbered."""
    return [ONNX_NAME] + [f"face_expression_{i}.onnx" for i in range(1, n)]


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return round(float(accuracy_score(y, p.argmax(1))), 4)


def assemble(members: list[Path], cards: list[dict], out: Path, tta_flip: bool, metrics: dict,
             validation: dict, flip_option: str = "auto", sources: list[Path] | None = None) -> None:
    """Write the ensemble folder (atomically: built beside ``out``, then swapped in).

    ``members`` hold the files that are copied (int8 copies with ``--int8``); ``sources`` are
    the ``--member`` paths the retrain command names (default: ``members``).
    """
    names = member_file_names(len(members))
    int8 = all(c.get("int8") for c in cards)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a model folder is read by everyone
    for folder, card, name in zip(members, cards, names, strict=True):
        shutil.copyfile(folder / member_onnx(card), tmp / name)
    for extra in ("README.md",):  # the human card stays with the folder it describes
        if (out / extra).is_file():
            shutil.copyfile(out / extra, tmp / extra)
    steps: list[str] = []
    for card in cards:
        steps += [s for s in card.get("retrain", "").split(" && ") if s and s not in steps]
    steps.append("python training/face_expression_ensemble.py "
                 + " ".join(f"--member {_rel(m)}" for m in (sources or members))
                 + ("" if flip_option == "auto" else f" --flip {flip_option}")
                 + (" --int8" if int8 else "")
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
        **({"int8": INT8} if int8 else {}),
        "output": "each member: logits over labels; the ensemble is the mean of the members' softmax",
        "parameters": sum(int(c.get("parameters", 0)) for c in cards),
        "validation": validation,
        "member_cards": {n: {k: v for k, v in c.items()
                             if k not in (*SHARED_KEYS, "output", "name", "task", "files")}
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
                        help="folder of a single trained network (card.json + ONNX), or one ONNX file "
                             "of an ensemble's folder; repeat")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--flip", choices=("auto", "on", "off"), default="auto",
                        help="average each member with the mirror image: auto = where it helps on validation")
    parser.add_argument("--int8", action="store_true",
                        help="ship int8 copies of the members (faster); every figure is then the int8 networks'")
    parser.add_argument("--validate-only", action="store_true",
                        help="score members and ensemble on validation; write nothing, leave test alone")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if len(args.member) < 2:
        raise SystemExit("an ensemble needs at least two --member folders")
    members = [read_member(m) for m in args.member]  # (folder, card) of each network
    for key in MUST_MATCH:
        if len({json.dumps(card.get(key), sort_keys=True) for _, card in members}) > 1:
            raise SystemExit(f"members disagree on {key!r}; they must take the same crops and give the same labels")

    data = load_cache()
    is_train = data["split"] == "train"
    tr, va = split_train_val(data["labels"][is_train])
    x_va = data["crops"][is_train][va].astype(np.float32) / 255.0
    y_va = data["labels"][is_train][va]
    scratch = Path(tempfile.mkdtemp(prefix="face-expression-members-"))
    try:
        # each member in a folder of its own, so the classifier runs that network alone
        members = [stage_member(*member, scratch / str(i)) for i, member in enumerate(members)]
        if args.int8:  # every figure below is then the int8 networks'
            pick = np.sort(np.random.default_rng(0).choice(tr, CALIBRATION_CROPS, replace=False))
            calibration = data["crops"][is_train][pick].astype(np.float32) / 255.0
            members = [quantize_member(*member, scratch / f"{i}-int8", calibration) for i, member in enumerate(members)]
        evaluate_and_assemble(args, members, data, x_va, y_va)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def evaluate_and_assemble(args: argparse.Namespace, members: list[tuple[Path, dict]], data: dict,
                          x_va: np.ndarray, y_va: np.ndarray) -> None:
    """Score members and their mean on validation; unless ``--validate-only``, test once and write."""
    folders = [folder for folder, _ in members]
    probs = {(i, flip): ExpressionClassifier(str(folder), flip=flip, threads=2).predict(x_va)
             for i, folder in enumerate(folders) for flip in (False, True)}  # validation probabilities
    validation = {"faces": int(len(y_va)), "members": {}, "ensemble": {}}
    for i, (source, name) in enumerate(zip(args.member, member_file_names(len(folders)), strict=True)):
        validation["members"][name] = {"from": _rel(source), **{view: accuracy(y_va, probs[(i, flip)])
                                                                for view, flip in (("plain", False), ("flip", True))}}
    for view, flip in (("plain", False), ("flip", True)):
        mean = np.mean([probs[(i, flip)] for i in range(len(folders))], axis=0)
        validation["ensemble"][view] = accuracy(y_va, mean)
    log.info("validation accuracy%s: %s", " (int8)" if args.int8 else "", json.dumps(validation))
    use_flip = {"on": True, "off": False}.get(args.flip, validation["ensemble"]["flip"] > validation["ensemble"]["plain"])
    if args.validate_only:
        log.info("--validate-only: nothing written, test split not scored (flip would be %s)", use_flip)
        return

    is_test = data["split"] == "test"
    x_te = data["crops"][is_test].astype(np.float32) / 255.0
    y_te = data["labels"][is_test]
    p_te = np.mean([ExpressionClassifier(str(f), flip=use_flip, threads=2).predict(x_te) for f in folders], axis=0)
    metrics = {"fer2013_test_accuracy": accuracy(y_te, p_te),
               "fer2013_test_macro_f1": round(float(f1_score(y_te, p_te.argmax(1), average="macro")), 4),
               "fer2013_val_accuracy": validation["ensemble"]["flip" if use_flip else "plain"]}
    log.info("FER2013 test (%d faces), flip=%s: accuracy %.4f, macro-F1 %.4f", len(y_te), use_flip,
             metrics["fer2013_test_accuracy"], metrics["fer2013_test_macro_f1"])
    assemble(folders, [card for _, card in members], args.out, use_flip, metrics, validation, args.flip,
             sources=args.member)


if __name__ == "__main__":
    main()
