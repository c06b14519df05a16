"""Choose the expression model's flip gate on validation: which faces get the mirror-image pass.

Flip averaging (each crop's probabilities averaged with its mirror image's) lifts the shipped
model with its geometry head by a few tenths of a point, but in the video path it is a second
network run a face. The mirror image rarely changes the answer for a face the networks are sure
of, so the pass can be limited to the faces whose top probability without it (the members' mean,
before the geometry head) is below a gate ``tau``; the others keep their one-pass probabilities.

This script scores gates from 0 (never flip) through 0.30-0.70 to "every face" on the FER2013
validation slice and on the same faces re-rendered (the shifted split of
``face_geometry_data.py``), with the card's geometry head at its weight, and chooses the gate
with the best mean accuracy of the two (then the smaller share of flipped faces: cheaper). With
``--export`` it tests that gate once (FER2013 test and the shifted test renders) and writes it
into the card's ``geometry`` entry (``tta_flip_below``); ``--make-default`` also makes the head,
with this gate, the card's default and its figures the card's headline.

The CNN probabilities come from ``face_expression_geometry.cnn_probs`` (cached per member files,
with and without flip), so choosing costs seconds once they exist.

Usage::

    python training/face_expression_flip_gate.py                                  # choose
    python training/face_expression_flip_gate.py --export --make-default          # + test, write
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from face_expression_geometry import MODEL_DIR, brief, cnn_probs, fuse, load_sets, scores  # noqa: E402

from affectlens.core.data import REPO_ROOT  # noqa: E402
from affectlens.modalities.face.expression_geometry import GeometryHead  # noqa: E402
from affectlens.models.registry import get_card, load_arrays  # noqa: E402

log = logging.getLogger("affectlens.training.face_expression_flip_gate")

RESULTS = REPO_ROOT / "benchmarks" / "results" / "face_expression_flip_gate.json"
GATES = [0.0, *np.round(np.arange(0.30, 0.701, 0.05), 2).tolist(), math.inf]


def gated(plain: np.ndarray, flipped: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """The probabilities with the gate applied, and which faces were flipped."""
    unsure = plain.max(axis=1) < tau
    return np.where(unsure[:, None], flipped, plain), unsure


def gate_name(tau: float) -> str:
    return "never" if tau == 0 else "every face" if math.isinf(tau) else f"top < {tau:.2f}"


def evaluate(sets, probs, flip_probs, head_logp, weight, names, tau) -> dict:
    out = {}
    for name in names:
        p, unsure = gated(probs[name], flip_probs[name], tau)
        s = scores(sets[name]["labels"], fuse(p, head_logp[name], sets[name]["mesh_ok"], weight))
        out[name] = {**s, "flipped_share": round(float(unsure.mean()), 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=MODEL_DIR, help="the model folder (card with a geometry head)")
    parser.add_argument("--export", action="store_true", help="test the chosen gate once and write it into the card")
    parser.add_argument("--make-default", action="store_true",
                        help="with --export: the geometry head with this gate becomes the card's default")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    card = get_card(str(args.model))
    spec = card.extra.get("geometry")
    if not spec:
        raise SystemExit(f"{args.model}: the card has no geometry head")
    weight = float(spec["weight"])
    head = GeometryHead(load_arrays(str(args.model), spec["file"]))
    sets = load_sets()
    names = ["val", "val_shifted"] + (["test", "test_shifted"] if args.export else [])
    crops = {k: sets[k]["crops"] for k in names}
    probs, flip_probs = cnn_probs(str(args.model), crops, flip=False), cnn_probs(str(args.model), crops, flip=True)
    head_logp = {}
    for k in names:
        logp = np.zeros((len(sets[k]["labels"]), probs[k].shape[1]))
        ok = sets[k]["mesh_ok"]
        logp[ok] = head.log_proba(sets[k]["landmarks"][ok].astype(np.float32))
        head_logp[k] = logp

    rows = []
    for tau in GATES:
        r = evaluate(sets, probs, flip_probs, head_logp, weight, ["val", "val_shifted"], tau)
        rows.append({"gate": gate_name(tau), "tau": None if math.isinf(tau) else tau,
                     "val_accuracy": r["val"]["accuracy"], "shifted_val_accuracy": r["val_shifted"]["accuracy"],
                     "val_flipped_share": r["val"]["flipped_share"],
                     "objective": round((r["val"]["accuracy"] + r["val_shifted"]["accuracy"]) / 2, 5)})
        log.info("%-12s val %s | shifted val %s | flipped %.0f %%", gate_name(tau), brief(r["val"]),
                 brief(r["val_shifted"]), 100 * r["val"]["flipped_share"])
    best = max(rows, key=lambda row: (row["objective"], -row["val_flipped_share"]))
    tau = math.inf if best["tau"] is None else best["tau"]
    report: dict = {"model": str(args.model.relative_to(REPO_ROOT) if args.model.is_relative_to(REPO_ROOT) else args.model),
                    "geometry_weight": weight, "objective": "mean accuracy of FER2013 validation and its shifted renders; "
                    "ties: fewer flipped faces", "gates": rows, "chosen": best["gate"]}
    log.info("chosen gate: %s", best["gate"])
    if args.export:
        if not 0 < tau:
            raise SystemExit("the best gate is 'never': nothing to write (set tta_flip false instead)")
        report["test"] = {gate_name(t): evaluate(sets, probs, flip_probs, head_logp, weight, ["test", "test_shifted"], t)
                          for t in (0.0, tau, math.inf)}
        report["test"]["cnn alone (no head, no flip)"] = {k: scores(sets[k]["labels"], probs[k]) for k in ("test", "test_shifted")}
        chosen = report["test"][best["gate"]]
        log.info("TEST %s: %s | shifted test %s", best["gate"], brief(chosen["test"]), brief(chosen["test_shifted"]))
        write_card(args, best, chosen, report["test"]["cnn alone (no head, no flip)"])
    for cut in report.get("test", {}).values():  # the confusion matrices are in face_expression.json
        for s in cut.values():
            s.pop("confusion_matrix", None)
    report["command"] = " ".join(["python training/face_expression_flip_gate.py", *sys.argv[1:]])
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    log.info("wrote %s", RESULTS)


def write_card(args, best: dict, tested: dict, cnn_alone: dict) -> None:
    """The gate into the card's geometry entry (and, with --make-default, the head on by default)."""
    card_path = args.model / "card.json"
    card = json.loads(card_path.read_text())
    geo = card["geometry"]
    geo["tta_flip"] = True
    geo["tta_flip_below"] = best["tau"]
    geo["flip_gate"] = {"chosen_on": "mean accuracy of the FER2013 validation slice and its shifted renders "
                                     "(training/face_expression_flip_gate.py)",
                        "val_flipped_share": best["val_flipped_share"],
                        "test_flipped_share": tested["test"]["flipped_share"]}
    geo["metrics"].update({"fer2013_test_accuracy": tested["test"]["accuracy"],
                           "fer2013_test_macro_f1": tested["test"]["macro_f1"],
                           "fer2013_val_accuracy": best["val_accuracy"],
                           "shifted_val_accuracy": best["shifted_val_accuracy"],
                           "shifted_test_accuracy": tested["test_shifted"]["accuracy"],
                           "fer2013_test_accuracy_cnn_alone": cnn_alone["test"]["accuracy"],
                           "shifted_test_accuracy_cnn_alone": cnn_alone["test_shifted"]["accuracy"]})
    if args.make_default:
        geo["default"] = True
        geo.pop("why_not_default", None)
        card["metrics"].update({k: v for k, v in geo["metrics"].items() if "cnn" not in k})
    step = "python " + " ".join(["training/face_expression_flip_gate.py", *sys.argv[1:]])
    card["retrain"] = " && ".join([c for c in card["retrain"].split(" && ") if "face_expression_flip_gate.py" not in c]
                                  + [step])
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    log.info("wrote the gate (%s) into %s", best["gate"], card_path)


if __name__ == "__main__":
    main()
