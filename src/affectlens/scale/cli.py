"""The ``--ray`` side of ``affectlens analyze`` and ``affectlens annotate``.

The command-line modules add these options with :func:`add_ray_arguments` and hand a Ray run
over to :func:`run_analyze` / :func:`run_annotate`; this module prints the corpus progress bar
and the summary (the only printing in :mod:`affectlens.scale`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..core.argtypes import positive, whole
from ..core.errors import ParameterError
from ..pipeline import AnalysisOptions
from .corpus import ERRORS_FILE, FileFailure, analyze_many
from .manifest import MANIFEST_FILE


def add_ray_arguments(parser: argparse.ArgumentParser, noun: str = "files") -> None:
    """``--ray``, ``--address``, ``--workers``, ``--cpus-per-worker``."""
    g = parser.add_argument_group("Ray (pip install 'affectlens[ray]')")
    g.add_argument("--ray", action="store_true",
                   help=f"spread the {noun} over Ray workers (a local Ray runtime unless --address); "
                        "resumable like the local batch, in the same output layout")
    g.add_argument("--address", metavar="ADDR",
                   help="a running Ray cluster (HOST:6379, or auto on one of its nodes); implies --ray. Inputs and --out "
                        "must be on storage every node sees at the same path")
    g.add_argument("--workers", type=whole(1), metavar="N",
                   help="Ray workers, each holding one loaded pipeline (default: one per --cpus-per-worker CPUs)")
    g.add_argument("--cpus-per-worker", type=positive("a number of CPUs"), default=1.0, metavar="N",
                   help="CPUs each Ray worker reserves; also its thread budget (default: 1)")


def wants_ray(args: argparse.Namespace) -> bool:
    """Whether the parsed options ask for Ray; ``--workers`` alone is a mistake said in one line."""
    if getattr(args, "ray", False) or getattr(args, "address", None):
        return True
    if getattr(args, "workers", None) is not None:
        raise ParameterError("--workers applies to Ray runs: add --ray (or --address ADDR)")
    return False


def run_analyze(args: argparse.Namespace, options: AnalysisOptions, formats: Sequence[str]) -> int:
    """``affectlens analyze PATH... --ray``: analyse on Ray, print the summary; 1 when a file failed."""
    if options.subtitles:
        raise ParameterError("--subtitles applies to a single file, not to a Ray run")
    show = not args.quiet
    done = resumed = 0
    failures: list[FileFailure] = []
    for item in analyze_many(args.paths, workers=args.workers, ray_address=args.address or None, out_dir=args.out,
                             formats=formats, options=options, cpus_per_worker=args.cpus_per_worker,
                             resume=not args.no_resume, retry_failed=getattr(args, "retry_failed", False),
                             return_results=False, use_ray=True, progress=show and sys.stderr.isatty(),
                             subtitles_dir=getattr(args, "subtitles_dir", None)):
        if isinstance(item, FileFailure):
            failures.append(item)
        else:
            resumed += item.resumed
            done += not item.resumed
    if show:
        earlier = sum(f.earlier for f in failures)
        out = Path(args.out)
        print(f"{done} analysed, {resumed} already done, {len(failures)} failed"
              + (f" ({earlier} in an earlier run; --retry-failed tries them again)" if earlier else "")
              + f"; see {out / MANIFEST_FILE}" + (f" and {out / ERRORS_FILE}" if failures else ""))
        for f in failures:
            print(f"  failed: {f.error}", file=sys.stderr)
    return 1 if failures else 0


def run_annotate(args: argparse.Namespace) -> int:
    """``affectlens annotate INPUT... --ray``: sharded MERR records; 1 when every clip failed."""
    from ..research.annotate import INSTRUCTIONS_FILE, MERR_FILE
    from .annotate import SHARDS_DIR, annotate_corpus

    if getattr(args, "llm_url", None):
        raise ParameterError("--llm-url is not supported with --ray yet: annotate with --ray first, then run "
                             "the same command without --ray and with --llm-url to caption the records")
    summary = annotate_corpus(args.inputs, args.out, use_ray=True, workers=args.workers,
                              ray_address=args.address or None, cpus_per_worker=args.cpus_per_worker,
                              min_agreement=args.min_agreement, subtitles_dir=args.subtitles_dir,
                              retry_failed=args.retry_failed, shard_size=args.shard_size,
                              progress=not args.no_progress and sys.stderr.isatty())
    print(f"analysed {summary.analysed} clip(s), skipped {summary.skipped} already finished; "
          f"kept {len(summary.kept)}, below agreement {len(summary.filtered)}, failed {len(summary.failed)}")
    for name in summary.failed:
        print(f"  failed: {summary.states[name].error}", file=sys.stderr)
    print(f"wrote {args.out / SHARDS_DIR}/ (instructions-*.jsonl, merr-*.json), {args.out / MERR_FILE}, "
          f"{args.out / INSTRUCTIONS_FILE} ({args.out / MANIFEST_FILE} tracks progress)")
    done = len(summary.kept) + len(summary.filtered)
    return 1 if summary.failed and done == 0 else 0
