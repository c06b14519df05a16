"""``affectlens bench``: score predictions the way MER-UniBench / OV-MER do.

The lead's CLI creates the ``bench`` subparser and calls :func:`add_arguments` and :func:`run`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..core.errors import ParameterError
from .bench import run_bench
from .inputs import TASKS, WORD_SOURCES
from .wheel import FORMAT_FILES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``affectlens bench`` on ``parser``."""
    parser.description = (
        "Score predictions against gold labels: open-vocabulary emotion-wheel F (OV-MERD), "
        "basic-emotion hit rate, sentiment F1/accuracy, or classification metrics."
    )
    parser.add_argument("--gold", required=True, type=Path, help="gold CSV (name + openset/label/sentiment)")
    parser.add_argument("--pred", required=True, type=Path,
                        help="predictions: CSV, upstream *-openset.npz, affectlens result JSON, or a folder of JSONs")
    parser.add_argument("--task", choices=TASKS, default="ov", help="what to score (default: ov)")
    parser.add_argument("--wheel-version", choices=sorted(FORMAT_FILES), default="2025",
                        help="format.csv version; 2025 reproduces published tables (default: 2025)")
    parser.add_argument("--level", type=int, choices=(1, 2), default=None,
                        help="wheel level to score (default: both for ov, 1 for hit)")
    parser.add_argument("--wheel-dir", type=Path, default=None,
                        help="folder of the emotion-wheel files (default: <shared data>/eval/emotion_wheel)")
    parser.add_argument("--gold-dataset", default=None,
                        help="classes task: map gold labels from this dataset's label set (e.g. mer2023)")
    parser.add_argument("--words", choices=WORD_SOURCES, default="fused",
                        help="affectlens JSON predictions: score the fused open-vocabulary words, or those the "
                             "language model proposed with --llm-url (default: fused)")
    parser.add_argument("--json", type=Path, default=None, help="write the full result as JSON here")
    parser.add_argument("--markdown", type=Path, default=None, help="write the table as Markdown here")


def run(args: argparse.Namespace) -> int:
    """Score, print the table, write the requested files; returns the exit code."""
    if args.level is not None:
        levels: tuple[int, ...] = (args.level,)
    else:
        levels = (1, 2) if args.task == "ov" else (1,)
    report = run_bench(args.gold, args.pred, task=args.task, wheel_version=args.wheel_version,
                       levels=levels, wheel_root=args.wheel_dir, gold_dataset=args.gold_dataset,
                       words_from=args.words)
    table = report.markdown()
    print(f"{args.task}: {report.predicted_samples}/{report.gold_samples} gold clips predicted"
          + (f", wheel version {args.wheel_version}" if args.task in ("ov", "hit") else ""))
    print(table)
    for path, text in ((args.json, json.dumps(report.to_plain(), indent=2)), (args.markdown, table + "\n")):
        if path is None:
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        except OSError as e:
            raise ParameterError(f"cannot write {path}: {e}") from e
    return 0
