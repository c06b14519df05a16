"""Live analysis through ``affectlens serve``'s ``/v1/live``: frame-to-label latency and fps.

Real clips with speech are played in real time by the Python client (the page's protocol:
JPEG frames, 16 kHz int16 audio, at most two frames unanswered), with speech recognition on.
Latency is from the moment a frame is sent to the moment its fused label arrives, measured
by the client; the server's own share (``server_ms``) is reported beside it. Sustained fps is
frames answered per second of stream.

Run: ``python benchmarks/serve_live.py``  ->  benchmarks/results/serve_live.json
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

from affectlens.core.data import shared_data_dir  # noqa: E402
from affectlens.live import stream_to_server  # noqa: E402
from affectlens.testing.server import ServerProcess  # noqa: E402

MER = shared_data_dir() / "video" / "mer2023_samples"
CLIPS = [MER / "sample_00000694.mp4", MER / "sample_00000727.mp4", MER / "sample_00000669.mp4"]  # 13.6 + 10.7 + 7.4 s


def play(url: str, clip: Path, fps: float) -> dict:
    latencies, server_ms, words, utterances, dropped = [], [], 0, 0, 0
    first = last = None
    for m in stream_to_server(url, clip, fps=fps, realtime=True, asr=True):
        kind = m["type"]
        if kind == "frame" and m.get("sent_at") is not None:
            latencies.append(1000 * (m["received_at"] - m["sent_at"]))
            server_ms.append(m["server_ms"])
            first = m["t"] if first is None else first
            last = m["t"]
        words += kind == "words"
        utterances += kind == "utterance"
        dropped += kind == "dropped"
    span = (last - first) if last is not None and first is not None else 0.0
    return {"clip": clip.name, "fps_sent": fps, "frames_answered": len(latencies),
            "sustained_fps": round((len(latencies) - 1) / span, 2) if span else 0.0,
            "latency_ms": latencies, "server_ms": server_ms, "words_updates": words, "utterances": utterances,
            "server_dropped": dropped}


def main() -> None:
    runs = []
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(Path(tmp) / "data") as server:
        play(server.url, CLIPS[-1], 8)  # warm-up: the models load on the first session
        for fps in (8.0, 10.0):
            for clip in CLIPS:
                r = play(server.url, clip, fps)
                print({k: v for k, v in r.items() if not isinstance(v, list)},
                      "median", statistics.median(r["latency_ms"]))
                runs.append(r)
        rss = server.rss_mb(peak=True)
    summary = {}
    for fps in (8.0, 10.0):
        lat = np.concatenate([r["latency_ms"] for r in runs if r["fps_sent"] == fps])
        srv = np.concatenate([r["server_ms"] for r in runs if r["fps_sent"] == fps])
        summary[f"{fps:.0f}_fps"] = {
            "latency_median_ms": round(float(np.median(lat)), 1), "latency_p95_ms": round(float(np.percentile(lat, 95)), 1),
            "latency_max_ms": round(float(lat.max()), 1),
            "server_median_ms": round(float(np.median(srv)), 1),
            "sustained_fps": round(float(np.mean([r["sustained_fps"] for r in runs if r["fps_sent"] == fps])), 2),
            "frames": int(lat.size),
            "words_updates": int(sum(r["words_updates"] for r in runs if r["fps_sent"] == fps)),
        }
    for r in runs:  # keep the file small: distributions as percentiles
        for key in ("latency_ms", "server_ms"):
            v = np.asarray(r[key])
            r[key] = {"median": round(float(np.median(v)), 1), "p95": round(float(np.percentile(v, 95)), 1),
                      "max": round(float(v.max()), 1)}
    headline = [{
        "area": "Serve", "metric": f"live frame-to-label latency at {key.replace('_', ' ')}, median / p95",
        "value": f"{s['latency_median_ms']:.0f} / {s['latency_p95_ms']:.0f} ms; {s['sustained_fps']} fps sustained",
        "protocol": f"/v1/live, 3 MER2023 clips with speech played in real time, recognition on; {s['frames']} frames",
    } for key, s in summary.items()]
    write_result("serve_live", {"runs": runs, "summary": summary, "server_peak_rss_mb": round(rss), "headline": headline})


if __name__ == "__main__":
    main()
