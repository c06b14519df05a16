"""``affectlens annotate``: build a MERR-style dataset from unlabelled videos.

The lead's CLI creates the ``annotate`` subparser and calls :func:`add_arguments` and :func:`run`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .annotate import INSTRUCTIONS_FILE, MERR_FILE, STATE_FILE, annotate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``affectlens annotate`` on ``parser``."""
    parser.description = (
        "Analyse unlabelled videos and write Emotion-LLaMA MERR fine-grained records (merr.json) and an "
        "instruction-tuning file (instructions.jsonl). Rerunning resumes: finished clips are skipped."
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="video files and/or folders of videos")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--min-agreement", type=float, default=0.0,
                        help="keep a clip only when its modality agreement (0-1) reaches this (default 0)")
    parser.add_argument("--subtitles-dir", type=Path, default=None,
                        help="folder of <clip>.srt/.vtt/.csv transcripts to use instead of speech recognition")
    parser.add_argument("--retry-failed", action="store_true", help="analyse clips that failed before again")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    from ..scale.annotate import DEFAULT_SHARD_SIZE
    from ..scale.cli import add_ray_arguments

    add_ray_arguments(parser, noun="clips")
    parser.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE, metavar="N",
                        help=f"with --ray: clips per shard of records and instructions (default: {DEFAULT_SHARD_SIZE})")
    from ..cli import add_llm_arguments

    add_llm_arguments(parser, what="writes each record's reasoning caption from its cues (checked claim by claim)")


def run(args: argparse.Namespace) -> int:
    """Annotate, print a summary; exit code 0, or 1 when every clip failed."""
    from ..scale import cli as scale_cli

    if scale_cli.wants_ray(args):
        return scale_cli.run_annotate(args)
    llm = None
    if getattr(args, "llm_url", None):
        from ..explain.llm import LLMConfig

        llm = LLMConfig(url=args.llm_url, model=args.llm_model, api_key_env=args.llm_api_key_env,
                        timeout=args.llm_timeout, max_tokens=args.llm_max_tokens, concurrency=args.llm_concurrency,
                        retries=args.llm_retries, open_vocabulary=False)
    summary = annotate(args.inputs, args.out, min_agreement=args.min_agreement,
                       subtitles_dir=args.subtitles_dir, retry_failed=args.retry_failed,
                       progress=not args.no_progress, llm=llm)
    print(f"analysed {summary.analysed} clip(s), skipped {summary.skipped} already finished; "
          f"kept {len(summary.kept)}, below agreement {len(summary.filtered)}, failed {len(summary.failed)}")
    if llm is not None:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.captions.items())) or "none needed"
        print(f"reasoning captions by {llm.model!r}: {counts} (rejected or failed ones keep the template caption)")
    for name in summary.failed:
        print(f"  failed: {name}: {summary.states[name].error}")
    print(f"wrote {args.out / MERR_FILE}, {args.out / INSTRUCTIONS_FILE} ({args.out / STATE_FILE} tracks progress)")
    done = len(summary.kept) + len(summary.filtered)
    return 1 if summary.failed and done == 0 else 0
