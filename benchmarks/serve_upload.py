"""Time from upload to result through ``affectlens serve`` (REST jobs), on real clips.

A real server in a child process; each clip is uploaded as a client would (multipart POST),
followed by polling ``GET /v1/jobs/{id}`` every 50 ms until it is done, then its JSON result is
fetched. The first job pays for loading the models (cold); the next ones are warm.

Run: ``python benchmarks/serve_upload.py``  ->  benchmarks/results/serve_upload.json
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

from affectlens.core.data import shared_data_dir  # noqa: E402
from affectlens.testing.server import ServerProcess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLIPS = {
    "MER2023 sample_00000167 (2.4 s, speech)": shared_data_dir() / "video" / "mer2023_samples" / "sample_00000167.mp4",
    "bundled sample (19.7 s, no speech)": ROOT / "src" / "affectlens" / "sample" / "WolfgangLanger_Pexels.mp4",
}
REPEATS = 3


def one_job(url: str, clip: Path) -> dict:
    started = time.perf_counter()
    r = requests.post(url + "/v1/jobs", files={"media": (clip.name, clip.read_bytes())}, timeout=120)
    r.raise_for_status()
    accepted = time.perf_counter() - started
    job_id = r.json()["id"]
    while True:
        job = requests.get(f"{url}/v1/jobs/{job_id}", timeout=10).json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    result = requests.get(f"{url}/v1/jobs/{job_id}/result?format=json", timeout=60)
    total = time.perf_counter() - started
    assert job["status"] == "done", job
    return {"accepted_s": round(accepted, 3), "upload_to_result_s": round(total, 3),
            "utterances": len(result.json()["utterances"]), "duration_s": job["duration"]}


def main() -> None:
    runs = []
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(Path(tmp) / "data") as server:
        for k, (name, clip) in enumerate(CLIPS.items()):
            for i in range(REPEATS + (1 if k == 0 else 0)):
                r = one_job(server.url, clip)
                r.update(clip=name, cold=(k == 0 and i == 0))
                runs.append(r)
                print(r)
        rss = server.rss_mb(peak=True)
    summary = {}
    for name in CLIPS:
        warm = [r["upload_to_result_s"] for r in runs if r["clip"] == name and not r["cold"]]
        cold = [r["upload_to_result_s"] for r in runs if r["clip"] == name and r["cold"]]
        summary[name] = {"warm_median_s": round(statistics.median(warm), 2), "cold_s": cold[0] if cold else None,
                         "duration_s": runs[[r["clip"] for r in runs].index(name)]["duration_s"]}
    short = list(CLIPS)[0]
    headline = [{
        "area": "Serve", "metric": f"upload to result, {name.split(' (')[0]} ({s['duration_s']:.1f} s clip)",
        "value": f"{s['warm_median_s']} s warm" + (f", {s['cold_s']} s for the first job (models load)" if s["cold_s"] else ""),
        "protocol": "REST job (multipart POST, poll every 50 ms, fetch JSON); one job at a time, default options",
    } for name, s in summary.items()]
    write_result("serve_upload", {"runs": runs, "summary": summary, "server_peak_rss_mb": round(rss),
                                  "short_clip": short, "headline": headline})


if __name__ == "__main__":
    main()
