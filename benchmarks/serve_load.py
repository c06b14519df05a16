"""``affectlens serve`` under 50 concurrent uploads: every one answered, memory bounded.

50 clients post at the same moment to a server whose queue holds 8 jobs. Each answer must be
202 (queued) or 429/503 (turned away); every accepted job must finish. The server's resident
memory is sampled from /proc throughout, and its peak (VmHWM) is reported with the idle figure.

Run: ``python benchmarks/serve_load.py``  ->  benchmarks/results/serve_load.json
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

from affectlens.testing.server import ServerProcess, wait_for_job  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "src" / "affectlens" / "sample" / "WolfgangLanger_Pexels.mp4"  # 1.6 MB, 19.7 s
CLIENTS, QUEUE = 50, 8


def main() -> None:
    payload = CLIP.read_bytes()
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(Path(tmp) / "data", "--max-queue", str(QUEUE)) as s:
        idle = s.rss_mb()
        samples, stop = [], threading.Event()

        def sample() -> None:
            while not stop.is_set():
                samples.append(s.rss_mb())
                time.sleep(0.05)

        answers, ids, lock = [], [], threading.Lock()
        gate = threading.Barrier(CLIENTS)

        def client() -> None:
            gate.wait()
            t = time.perf_counter()
            try:
                r = requests.post(s.url + "/v1/jobs", files={"media": ("clip.mp4", payload)},
                                  data={"face_fps": "5"}, timeout=300)
                code = r.status_code
            except requests.RequestException as e:
                code = f"error: {e}"
                r = None
            with lock:
                answers.append({"status": code, "seconds": round(time.perf_counter() - t, 3)})
                if code == 202:
                    ids.append(r.json()["id"])

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        answered_s = time.perf_counter() - started
        peak_during_uploads = max(samples)
        for job_id in ids:
            assert wait_for_job(s.url, job_id, timeout=900)["status"] == "done"
        all_done_s = time.perf_counter() - started
        stop.set()
        listed = {j["id"] for j in requests.get(s.url + "/v1/jobs", timeout=10).json()["jobs"]}
        peak = s.rss_mb(peak=True)
    codes = [a["status"] for a in answers]
    result = {
        "clients": CLIENTS, "queue": QUEUE, "upload_mb": round(len(payload) / 2**20, 2),
        "answers": {str(c): codes.count(c) for c in sorted(set(codes), key=str)},
        "all_answered": len(answers) == CLIENTS and all(c in (202, 429, 503) for c in codes),
        "accepted_jobs_listed_and_done": listed == set(ids),
        "answer_seconds_max": max(a["seconds"] for a in answers),
        "all_answered_after_s": round(answered_s, 2), "accepted_jobs_done_after_s": round(all_done_s, 2),
        "rss_idle_mb": round(idle), "rss_peak_during_uploads_mb": round(peak_during_uploads),
        "rss_peak_mb": round(peak),
    }
    print(result)
    result["headline"] = [{
        "area": "Serve", "metric": f"{CLIENTS} concurrent uploads ({result['upload_mb']} MB each), queue of {QUEUE}",
        "value": f"{codes.count(202)} accepted, {len(codes) - codes.count(202)} answered 503, none lost; "
                 f"server RSS {result['rss_idle_mb']} MB idle, {result['rss_peak_during_uploads_mb']} MB peak during "
                 f"the uploads, {result['rss_peak_mb']} MB peak with the jobs analysed",
        "protocol": "all posted at once; RSS sampled every 50 ms from /proc",
    }]
    write_result("serve_load", result)


if __name__ == "__main__":
    main()
