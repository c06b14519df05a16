"""The ``affectlens`` command: analyze, bench, annotate, models.

Library code logs; this module is the only one that prints, and it turns every
:class:`~affectlens.core.errors.AffectlensError` into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import tempfile
from pathlib import Path

from . import __version__
from .core.argtypes import face_rate, positive, whole
from .core.errors import INPUT_DOC, AffectlensError, ParameterError
from .ingest.subtitles import find_subtitles, subtitles_folder

FORMATS = "json,csv,frames,srt,vtt,html"

def add_llm_arguments(p: argparse.ArgumentParser, what: str = "rephrases explanations") -> None:
    """The language-model options, shared by ``analyze``, ``annotate`` and ``serve``."""
    p.add_argument("--llm-url", metavar="URL",
                   help=f"OpenAI-compatible server that {what} (off by default; nothing leaves the machine otherwise)")
    p.add_argument("--llm-model", default="default", help="model name for --llm-url")
    p.add_argument("--llm-api-key-env", metavar="VAR", help="environment variable holding the API key for --llm-url")
    p.add_argument("--llm-max-tokens", type=whole(1), default=160, metavar="N",
                   help="cap on the tokens of each answer (default: 160)")
    p.add_argument("--llm-timeout", type=positive("a number of seconds"), default=30.0, metavar="S",
                   help="seconds one request may take, retries included; then the template text is kept (default: 30)")
    p.add_argument("--llm-concurrency", type=whole(1), default=2, metavar="N",
                   help="requests in flight at once (default: 2; more than the server's slots only queues them)")
    p.add_argument("--llm-retries", type=whole(0), default=1, metavar="N",
                   help="extra attempts after a connection error or HTTP 429/5xx (default: 1; never after a timeout)")


def llm_options(args: argparse.Namespace) -> dict:
    """The ``llm_*`` fields of :class:`~affectlens.pipeline.AnalysisOptions` from parsed arguments."""
    return {"llm_url": args.llm_url, "llm_model": args.llm_model, "llm_api_key_env": args.llm_api_key_env,
            "llm_max_tokens": args.llm_max_tokens, "llm_timeout": args.llm_timeout,
            "llm_concurrency": args.llm_concurrency, "llm_retries": args.llm_retries}


def _add_analyze(sub) -> None:
    p = sub.add_parser(
        "analyze",
        help="analyse media or a transcript and explain the emotions per utterance",
        description=f"Analyse PATH ({INPUT_DOC}). Several paths or a folder run as a resumable batch.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="file(s) or folder(s) to analyse")
    p.add_argument("--subtitles", metavar="FILE", help="SRT/WebVTT file with utterance times (and 'Speaker:' prefixes); single PATH only")
    p.add_argument("--subtitles-dir", metavar="DIR",
                   help="folder of per-file subtitles: DIR/<file stem>.srt, .vtt or .csv gives that file its utterances; "
                        "files without one are transcribed")
    p.add_argument("--out", default="out", metavar="DIR", help="output folder (default: out)")
    p.add_argument("--format", default="json,html", help=f"comma-separated output formats from {FORMATS} (default: json,html)")
    p.add_argument("--face-fps", type=face_rate, default=10.0, metavar="N",
                   help="frames per second for the face stage, or 'all' for every frame (default: 10)")
    p.add_argument("--modalities", default="face,voice,words", help="comma-separated subset of face,voice,words")
    p.add_argument("--no-asr", action="store_true", help="do not transcribe speech (faster; no words without subtitles)")
    p.add_argument("--no-speakers", action="store_true",
                   help="without subtitles, do not estimate speaker turns from the voice (S1, S2...)")
    p.add_argument("--asr-model", default="whisper-base",
                   help="'whisper-base' (bundled via pip, offline), a local faster-whisper folder, or a model name to download")
    p.add_argument("--language", help="speech language code (e.g. en); detected when omitted")
    add_llm_arguments(p)
    p.add_argument("--threads", type=whole(1, "a whole number of threads", "--threads"), default=None, metavar="N",
                   help="threads for the whole analysis, shared by the video and audio branches "
                        "(default: what this process may use: CPU affinity, OMP_NUM_THREADS)")
    p.add_argument("--no-resume", action="store_true", help="in a batch, redo files whose results already exist")
    p.add_argument("--retry-failed", action="store_true",
                   help="in a batch, analyse again the files an earlier run recorded as failed (skipped otherwise)")
    p.add_argument("--quiet", action="store_true", help="no progress or summary on the terminal")
    from .scale.cli import add_ray_arguments

    add_ray_arguments(p)


def check_output_dir(out: str | Path) -> Path:
    """``out`` as a folder results can be written to, created if needed; else a one-line error."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {out}: is a file; expected a folder for the results")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".affectlens-write-test-"):
            pass
    except OSError as e:
        raise ParameterError(f"--out {out}: cannot be written ({e.strerror or e})") from e
    return out


def _run_analyze(args) -> int:
    from .batch import run_batch
    from .pipeline import AnalysisOptions, Pipeline, ProgressHook

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    from .writers import get_writer

    for f in formats:
        get_writer(f)  # fail fast on an unknown format
    if args.subtitles and len(args.paths) > 1:
        print("affectlens: error: --subtitles applies to a single PATH", file=sys.stderr)
        return 2
    if args.subtitles and args.subtitles_dir:
        print("affectlens: error: give either --subtitles or --subtitles-dir, not both", file=sys.stderr)
        return 2
    single = len(args.paths) == 1 and not Path(args.paths[0]).is_dir()
    if single and args.subtitles_dir and not (args.ray or args.address):
        # One file analysed here: its subtitles, found now, as --subtitles would give them.
        args.subtitles = find_subtitles(Path(args.paths[0]), subtitles_folder(args.subtitles_dir))
        args.subtitles_dir = None
    options = AnalysisOptions(
        modalities=tuple(m.strip() for m in args.modalities.split(",") if m.strip()),
        face_fps=args.face_fps, subtitles=args.subtitles, asr=not args.no_asr, speakers=not args.no_speakers,
        asr_model=args.asr_model, language=args.language,
        threads=args.threads, **llm_options(args),
    )
    check_output_dir(args.out)  # before any decoding: an hour's analysis must not end in "cannot write"
    from .scale import cli as scale_cli

    if scale_cli.wants_ray(args):  # the pipelines live in the Ray workers
        return scale_cli.run_analyze(args, options, formats)
    pipeline = Pipeline(options)
    progress = not args.quiet and sys.stderr.isatty()  # progress lines would only clutter a log file
    if single:
        result = pipeline(args.paths[0], hook=ProgressHook(Path(args.paths[0]).name) if progress else None)
        written = [get_writer(f)(result, args.out) for f in formats]
        if not args.quiet:
            print(result.summary())
            for w in written:
                print(f"wrote {w}")
        return 0
    report = run_batch(
        pipeline, args.paths, args.out, formats, resume=not args.no_resume, retry_failed=args.retry_failed,
        hook_for=(lambda f: ProgressHook(f.name)) if progress else None, subtitles_dir=args.subtitles_dir,
    )
    if not args.quiet:
        earlier = (f"; {len(report.not_retried)} of them in an earlier run, not retried (--retry-failed)"
                   if report.not_retried else "")
        print(f"{len(report.done)} analysed, {len(report.skipped)} already done, {len(report.failed)} failed"
              + (f" (see {Path(args.out) / 'errors.json'}{earlier})" if report.failed else ""))
        for err in report.failed.values():
            print(f"  failed: {err}", file=sys.stderr)
    return 0 if report.ok else 1


def _add_models(sub) -> None:
    sub.add_parser("models", help="list the models affectlens can load, with their test metrics")


def _run_models(args) -> int:
    from .models.registry import _EXTERNAL, available_models, get_card

    for name in available_models():
        if name in _EXTERNAL:
            print(f"{name:28s} {_EXTERNAL[name].task:22s} (pip package) {_EXTERNAL[name].description}")
            continue
        card = get_card(name)
        metrics = ", ".join(f"{k}={v}" for k, v in card.metrics.items())
        print(f"{name:28s} {card.task:22s} {metrics}")
    return 0


#: Subcommands provided by other modules: name -> (module, help). Each module offers
#: ``add_arguments(parser)`` and ``run(args) -> int``.
PLUGIN_COMMANDS = {
    "bench": ("affectlens.research.bench_cli", "score predictions the way MER-UniBench / OV-MER do"),
    "annotate": ("affectlens.research.annotate_cli", "build MERR-style annotations for a folder of videos"),
    "serve": ("affectlens.serve.cli", "run the REST service, the web app and live analysis"),
    "live": ("affectlens.live.cli", "live emotion from a camera, or a file played in real time"),
}


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (its usage block buried the error), and an
    option must be spelled out: with argparse's prefix matching, ``--asr off`` was read as
    ``--asr-model off`` and failed later, per file, on a model called "off"."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="affectlens",
        description="What each person feels, when, and why: face, voice and words, fused and explained. Offline.",
    )
    parser.add_argument("--version", action="version", version=f"affectlens {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_analyze(sub)
    _add_models(sub)
    for name, (module, help_text) in PLUGIN_COMMANDS.items():
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(_plugin=mod)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    # Python warnings (a library's DeprecationWarning, a UserWarning) go through logging too, so
    # they reach the terminal only with -v, on one line, like everything else.
    logging.captureWarnings(True)
    try:
        if args.command == "analyze":
            return _run_analyze(args)
        if args.command == "models":
            return _run_models(args)
        return int(args._plugin.run(args) or 0)
    except AffectlensError as e:
        print(f"affectlens: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("affectlens: interrupted", file=sys.stderr)
        return 130


def console() -> int:
    """The ``affectlens`` command: :func:`main` with native library log lines kept off the
    terminal unless ``-v`` (a process-wide change of descriptor 2, so not done by ``main``,
    which tests and other programs call in-process)."""
    if not {"-v", "--verbose"} & set(sys.argv[1:]):
        from .core.quiet import filter_native_stderr

        filter_native_stderr()
    return main()


if __name__ == "__main__":
    sys.exit(console())
