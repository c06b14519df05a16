"""``affectlens live``: live emotion from a local camera, or a file played in real time.

By default the analysis runs in this process; ``--server URL`` sends the stream to a running
``affectlens serve`` instead (its ``/v1/live``). Each line printed is one update: the fused
emotion per frame (at most ``--print-every`` seconds apart), each judged utterance, and the
words when recognition is on. ``--json`` prints every update as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..core.argtypes import positive, whole


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--camera", type=whole(0, "a camera index"), help="local camera index (OpenCV), e.g. 0")
    source.add_argument("--file", help="a media file, played in real time")
    parser.add_argument("--fps", type=positive("a frame rate"), default=8.0, help="frames per second analysed (default 8)")
    parser.add_argument("--seconds", type=positive("a duration"), default=None, help="stop after this long")
    parser.add_argument("--no-asr", action="store_true", help="do not recognise speech (no words)")
    parser.add_argument("--fast", action="store_true", help="with --file: as fast as it can be analysed, not in real time")
    parser.add_argument("--server", default=None, help="stream to a running 'affectlens serve' (e.g. http://127.0.0.1:8765)")
    parser.add_argument("--token", default=None, help="the server's token (default: $AFFECTLENS_TOKEN)")
    parser.add_argument("--save", default=None, metavar="OUT_DIR",
                        help="write the session as a normal result (JSON and HTML) into OUT_DIR when it ends")
    parser.add_argument("--json", action="store_true", help="print every update as a JSON line")
    parser.add_argument("--print-every", type=positive("a duration"), default=1.0,
                        help="seconds between two printed frame labels (default 1)")


def _line(message: dict) -> str | None:
    kind = message.get("type")
    t = message.get("t", 0.0)
    if kind == "frame":
        fused = message.get("fused") or {}
        label = fused.get("label") or "no evidence"
        p = (fused.get("probs") or {}).get(fused.get("label"), 0.0)
        faces = message.get("faces") or []
        aus = ", ".join(f"{k} {v:.1f}" for k, v in list((faces[0]["aus"] if faces else {}).items())[:3])
        return f"{t:7.2f}s  {label:9s} {p:4.0%}  " + (f"face: {faces[0]['label']} ({aus})" if faces else "no face")
    if kind == "utterance":
        said = f' "{message["text"]}"' if message.get("text") else ""
        return f"{message.get('t0', 0):7.2f}-{t:.2f}s utterance: {message.get('label') or 'no evidence'}{said}\n" \
               f"          {message.get('explanation', '')}"
    if kind == "words":
        return f"{t:7.2f}s  words: \"{message.get('text')}\""
    if kind in ("saved", "error"):
        return f"{kind}: {message.get('id') or message.get('detail')}"
    return None


def run(args: argparse.Namespace) -> int:
    import os

    from ..core.errors import AffectlensError

    source = args.file
    camera = args.camera
    realtime = not args.fast
    last_printed = -1e9
    try:
        if args.server:
            from .client import stream_to_server

            updates = stream_to_server(args.server, source, camera=camera, token=args.token or os.environ.get(
                "AFFECTLENS_TOKEN"), fps=args.fps, seconds=args.seconds, realtime=realtime, asr=not args.no_asr,
                save=bool(args.save))
            session = None
        else:
            from . import analyze_live
            from .session import LiveSession

            session = LiveSession(asr=not args.no_asr)
            updates = (u.to_dict() for u in analyze_live(source, camera=camera, fps=args.fps, seconds=args.seconds,
                                                          realtime=realtime, session=session))
        for message in updates:
            if args.json:
                message.pop("received_at", None), message.pop("sent_at", None)
                print(json.dumps(message), flush=True)
                continue
            if message.get("type") == "frame":
                if message.get("t", 0) - last_printed < args.print_every:
                    continue
                last_printed = message.get("t", 0)
            line = _line(message)
            if line:
                print(line, flush=True)
    except KeyboardInterrupt:
        pass
    except AffectlensError as e:
        print(f"affectlens live: {e}", file=sys.stderr)
        return 1
    if session is not None:
        if args.save:
            from ..writers import get_writer

            result = session.result()
            for fmt in ("html", "json"):
                path = get_writer(fmt)(result, args.save, "live")
                print(f"wrote {path}")
        session.close()
    return 0
