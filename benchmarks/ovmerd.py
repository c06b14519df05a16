"""Reproduce the OV-MER paper's OV-MERD table with affectlens' own scorer.

Scores the open-vocabulary labels of 10 published multimodal LLMs on the 332 OV-MERD clips,
in 3 prompt settings, with both ``format.csv`` versions, and compares Chat-UniVi's
``nosubtitle-addsub`` row with the paper. Writes ``benchmarks/results/ovmerd.json``.

Run: ``python benchmarks/ovmerd.py`` (about 10 s on a 2-core CPU).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

from affectlens.core.data import dataset_path
from affectlens.research.inputs import read_gold, read_predictions
from affectlens.research.metrics import open_vocab_score
from affectlens.research.wheel import WHEELS, load_lexicon

SETTINGS = ("nosubtitle-addsub", "nosubtitle", "subtitle")
#: The OV-MER paper's Chat-UniVi row (nosubtitle-addsub): wheel -> (level-1 F, level-2 F).
PAPER_CHAT_UNIVI = {
    "wheel1": (57.00, 42.25), "wheel2": (57.50, 42.43), "wheel3": (56.80, 45.66),
    "wheel4": (55.86, 41.97), "wheel5": (55.81, 43.61),
}
OUT = Path(__file__).resolve().parent / "results" / "ovmerd.json"


def main() -> int:
    root = dataset_path("eval", "ovmerd")
    gold = read_gold(root / "gt-openset.csv", "ov")
    started = time.perf_counter()
    table: dict[str, dict[str, dict[str, object]]] = {}
    for version in ("2025", "2026"):
        lexicon = load_lexicon(version=version)
        for model_dir in sorted(p for p in (root / "predictions").iterdir() if p.is_dir()):
            for setting in SETTINGS:
                npz = model_dir / f"output-reason-7b-{setting}-eng-openset.npz"
                if not npz.exists():
                    continue
                preds = {n: p.open_labels() for n, p in read_predictions(npz).items()}
                score = open_vocab_score(gold, preds, lexicon)
                table.setdefault(version, {}).setdefault(model_dir.name, {})[setting] = score.to_plain()
    elapsed = time.perf_counter() - started

    ours = table["2025"]["Chat-UniVi"]["nosubtitle-addsub"]
    comparison = {}
    print("Chat-UniVi, nosubtitle-addsub, format 2025: paper vs affectlens (F, level 1 / level 2)")
    print(f"{'wheel':8s} {'paper L1':>9s} {'ours L1':>8s} {'paper L2':>9s} {'ours L2':>8s}")
    for w in WHEELS:
        p1, p2 = PAPER_CHAT_UNIVI[w]
        o1, o2 = ours[w]["level1"]["f"], ours[w]["level2"]["f"]
        comparison[w] = {"paper_level1": p1, "ours_level1": round(o1, 2), "paper_level2": p2, "ours_level2": round(o2, 2),
                         "diff_level1": round(o1 - p1, 2), "diff_level2": round(o2 - p2, 2)}
        print(f"{w:8s} {p1:9.2f} {o1:8.2f} {p2:9.2f} {o2:8.2f}")
    max_diff = max(abs(v) for c in comparison.values() for k, v in c.items() if k.startswith("diff"))
    print(f"largest difference: {max_diff:.2f} points")

    print("\nMean F over 5 wheels (level 1 / level 2), format 2025:")
    for model, settings in table["2025"].items():
        cells = "  ".join(f"{s}: {v['mean']['level1']['f']:.2f}/{v['mean']['level2']['f']:.2f}"
                          for s, v in settings.items())
        print(f"  {model:14s} {cells}")

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "name": "ovmerd",
        "what": "OV-MERD open-vocabulary emotion-wheel scores (F, precision, recall in %) of 10 MLLMs x 3 settings "
                "x 2 format.csv versions, 332 clips, scored by affectlens.research",
        "data": "../shared/data/eval/ovmerd (gt-openset.csv, predictions/*/*-openset.npz), "
                "../shared/data/eval/emotion_wheel",
        "date": dt.date.today().isoformat(),
        "machine": "2-core CPU",
        "command": "python benchmarks/ovmerd.py",
        "seconds": round(elapsed, 2),
        "paper_comparison_chat_univi_nosubtitle_addsub_2025": comparison,
        "max_abs_diff_points": round(max_diff, 2),
        "results": table,
    }, indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {OUT} ({elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
