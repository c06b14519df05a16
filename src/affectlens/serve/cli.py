"""``affectlens serve``: the REST service, the web app and live analysis (FastAPI + uvicorn).

Safe by default: it listens on 127.0.0.1, so nothing is reachable from another machine. Any
other ``--host`` is refused at start unless a token is set (``--token`` or ``AFFECTLENS_TOKEN``).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

from ..core.argtypes import positive, whole

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "affectlens" / "serve"


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, 'localhost')."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=whole(0, "a port number"), default=8765)
    parser.add_argument("--data-dir", default=None,
                        help=f"where jobs and results are kept (default: {DEFAULT_DATA_DIR})")
    parser.add_argument("--max-upload-mb", type=whole(), default=2048, help="largest upload accepted (default: 2048)")
    parser.add_argument("--max-queue", type=whole(), default=32,
                        help="jobs queued or running at once; more are answered 503 (default: 32)")
    parser.add_argument("--workers", type=whole(), default=1,
                        help="jobs analysed at the same time (default: 1, with the whole thread budget)")
    parser.add_argument("--token", default=None,
                        help="require 'Authorization: Bearer TOKEN' (default: $AFFECTLENS_TOKEN; "
                             "needed for any non-loopback --host)")
    parser.add_argument("--face-fps", type=positive("a frame rate"), default=10.0, help="default frames per second for the face")
    parser.add_argument("--no-live", action="store_true", help="turn off live analysis (/live and /v1/live)")
    from ..cli import add_llm_arguments

    add_llm_arguments(parser)


def hold_data_dir(data_dir: Path):
    """Lock ``data_dir`` for this process (released by the kernel when it dies, even by kill -9).

    One server per data folder: a second one would take the first one's running jobs for
    jobs orphaned by a crash and run them again. Returns the open lock file, or None when
    another process holds it.
    """
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    fh = open(data_dir / "serve.lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return None
    return fh


def build_config(args: argparse.Namespace):
    """The service's :class:`~affectlens.serve.app.ServeConfig` from the command line."""
    from ..cli import llm_options
    from ..pipeline import AnalysisOptions
    from .app import ServeConfig

    token = args.token or os.environ.get("AFFECTLENS_TOKEN") or None
    data_dir = Path(args.data_dir) if args.data_dir else DEFAULT_DATA_DIR
    return ServeConfig(data_dir=data_dir, max_upload_mb=args.max_upload_mb, max_queue=args.max_queue,
                       token=token, workers=args.workers, live=not args.no_live,
                       options=AnalysisOptions(face_fps=args.face_fps, **llm_options(args)))


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        config = build_config(args)
        from .app import create_app
    except ImportError as e:
        print(f"affectlens serve needs the service extra: pip install 'affectlens[serve]' ({e})", file=sys.stderr)
        return 2
    if not is_loopback(args.host) and not config.token:
        print(f"affectlens serve: refusing to listen on {args.host} without a token; set --token or "
              "AFFECTLENS_TOKEN (or use the default 127.0.0.1)", file=sys.stderr)
        return 2
    data_dir = config.data_dir
    lock = hold_data_dir(data_dir)
    if lock is None:
        print(f"affectlens serve: another server is using {data_dir}; stop it or pass another --data-dir",
              file=sys.stderr)
        return 2
    app = create_app(config)
    print(f"affectlens serving on http://{args.host}:{args.port} (data in {data_dir}; Ctrl+C to stop)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", ws_max_size=4 << 20)
    return 0
