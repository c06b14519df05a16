"""``affectlens serve``: the REST jobs, their persistence across kill -9, and the safety rules.

Every test talks to a real server in a child process over HTTP (see affectlens.testing.server),
with real clips: the bundled sample and the MER2023 samples.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from affectlens.serve.jobs import MAX_ATTEMPTS, Job, JobStore
from affectlens.testing.server import ServerProcess, wait_for_job

pytestmark = pytest.mark.slow
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "affectlens" / "sample" / "WolfgangLanger_Pexels.mp4"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("serve") / "data"
    with ServerProcess(data) as s:
        yield s


@pytest.fixture(scope="session")
def short_clip(shared_data) -> Path:
    return shared_data / "video" / "mer2023_samples" / "sample_00000167.mp4"  # 2.4 s, one face, speech


def upload(url: str, path: Path, *, name: str | None = None, headers=None, subtitles: Path | None = None, **fields):
    files = {"media": (name or path.name, path.read_bytes(), "application/octet-stream")}
    if subtitles is not None:
        files["subtitles"] = (subtitles.name, subtitles.read_bytes(), "text/plain")
    return requests.post(f"{url}/v1/jobs", files=files, data={k: str(v) for k, v in fields.items()},
                         headers=headers, timeout=60)


def test_health_and_schema(server):
    r = requests.get(server.url + "/v1/health", timeout=5)
    assert r.status_code == 200 and r.json()["version"]
    spec = requests.get(server.url + "/openapi.json", timeout=5).json()
    for path in ("/v1/health", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/events", "/v1/jobs/{job_id}/result"):
        assert path in spec["paths"], path
    assert set(spec["paths"]["/v1/jobs/{job_id}"]) == {"get", "delete"}
    schemas = spec["components"]["schemas"]
    assert {"JobStatus", "JobCreated", "JobList", "Health", "Problem"} <= set(schemas)
    assert "media" in spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    docs = requests.get(server.url + "/docs", timeout=5).text
    assert "openapi.json" in docs and "cdn" not in docs.lower() and "https://" not in docs


def test_job_lifecycle_with_subtitles(server, short_clip, tmp_path):
    srt = tmp_path / "clip.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:02,400\nSo, the first time I had a meal with you was also to thank you.\n")
    r = upload(server.url, short_clip, subtitles=srt, face_fps=5)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert r.json()["status"] == "queued"

    # progress as server-sent events, ending at "done"
    events = []
    with requests.get(f"{server.url}/v1/jobs/{job_id}/events", stream=True, timeout=300) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[-1]["status"] == "done" and events[-1]["progress"] == 1
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress)

    job = requests.get(f"{server.url}/v1/jobs/{job_id}", timeout=5).json()
    assert job["status"] == "done" and job["kind"] == "video" and job["has_subtitles"] and job["error"] is None
    assert set(job["results"]) == {"json", "html", "csv", "srt"}
    result = requests.get(f"{server.url}/v1/jobs/{job_id}/result?format=json", timeout=10).json()
    assert len(result["utterances"]) == 1
    assert result["utterances"][0]["segment"]["text"].startswith("So, the first time")
    assert result["utterances"][0]["segment"]["source"] == "subtitles"
    html = requests.get(f"{server.url}/v1/jobs/{job_id}/result?format=html", timeout=10)
    assert html.headers["content-type"].startswith("text/html") and "<html" in html.text.lower()
    csv = requests.get(f"{server.url}/v1/jobs/{job_id}/result?format=csv", timeout=10).text
    assert csv.splitlines()[0].startswith("index") or "label" in csv.splitlines()[0]
    srt_out = requests.get(f"{server.url}/v1/jobs/{job_id}/result?format=srt", timeout=10).text
    assert "-->" in srt_out
    assert requests.get(f"{server.url}/v1/jobs/{job_id}/result?format=exe", timeout=5).status_code == 422
    assert job_id in [j["id"] for j in requests.get(f"{server.url}/v1/jobs", timeout=5).json()["jobs"]]

    assert requests.delete(f"{server.url}/v1/jobs/{job_id}", timeout=5).status_code == 204
    assert requests.get(f"{server.url}/v1/jobs/{job_id}", timeout=5).status_code == 404
    assert not (server.data_dir / "jobs" / job_id).exists()


def test_media_is_judged_by_decoding_not_by_name(server, short_clip, tmp_path):
    fake = tmp_path / "holiday.mp4"
    fake.write_text("this is not a video\n" * 50)
    r = upload(server.url, fake)
    assert r.status_code == 415 and "not a media file" in r.json()["detail"]
    # a real video under a text name is a video
    r = upload(server.url, short_clip, name="notes.txt", modalities="face", face_fps=2)
    assert r.status_code == 202
    job = wait_for_job(server.url, r.json()["id"])
    assert job["kind"] == "video" and job["status"] == "done"
    # broken subtitles are refused at upload, naming the line
    bad = tmp_path / "bad.srt"
    bad.write_text("1\n00:00:01.000 -> 00:00:02\nhello\n")
    r = upload(server.url, short_clip, subtitles=bad)
    assert r.status_code == 422 and "line" in r.json()["detail"]
    r = upload(server.url, short_clip, face_fps="fast")
    assert r.status_code == 422 and "face_fps" in r.json()["detail"]
    r = upload(server.url, short_clip, modalities="face,smell")
    assert r.status_code == 422 and "smell" in r.json()["detail"]
    before = {p.name for p in (server.data_dir / "jobs").iterdir()}
    assert all(len(n) == 16 for n in before)  # no half-made folder from a refused upload
    assert len(before) == len(requests.get(server.url + "/v1/jobs", timeout=5).json()["jobs"])


def test_upload_names_never_become_paths(server, short_clip, tmp_path):
    outside = server.data_dir.parent
    before = sorted(p.name for p in outside.iterdir())
    for name in ("../../x.mp4", "/etc/passwd", "..\\..\\y.mp4", "a/../../../z.mp4"):
        r = upload(server.url, short_clip, name=name, modalities="face", face_fps=1)
        assert r.status_code == 202, r.text
        job = requests.get(f"{server.url}/v1/jobs/{r.json()['id']}", timeout=5).json()
        assert "/" not in job["filename"] and "\\" not in job["filename"]
        assert sorted(p.name for p in (server.data_dir / "jobs" / job["id"]).iterdir()) <= ["media.bin", "result.csv",
                                                                                            "result.html", "result.json",
                                                                                            "result.srt"]
    assert sorted(p.name for p in outside.iterdir()) == before
    assert not any(Path(p).exists() for p in ("/x.mp4", "/z.mp4", "/y.mp4"))
    # ids are checked before they touch the file system
    assert requests.get(f"{server.url}/v1/jobs/..%2F..%2Fetc", timeout=5).status_code == 404
    assert requests.delete(f"{server.url}/v1/jobs/abc", timeout=5).status_code == 404


def test_size_limit_and_queue_bound(tmp_path, short_clip):
    big = tmp_path / "big.mp4"
    big.write_bytes(short_clip.read_bytes() * 8)  # ~2.2 MB
    with ServerProcess(tmp_path / "data", "--max-upload-mb", "1", "--max-queue", "1") as s:
        r = upload(s.url, big)
        assert r.status_code == 413 and "1 MB" in r.json()["detail"]
        assert list((s.data_dir / "jobs").iterdir()) == []
        # a chunked upload without a length is refused rather than read without bound
        r = requests.post(s.url + "/v1/jobs", data=iter([b"x" * 1000] * 3), timeout=10,
                          headers={"Content-Type": "multipart/form-data; boundary=xx"})
        assert r.status_code == 411
        first = upload(s.url, SAMPLE, face_fps="all", modalities="face")
        assert first.status_code == 413  # the sample is 2.8 MB: over this server's limit
        ok = upload(s.url, short_clip, modalities="face")
        assert ok.status_code == 202
        full = upload(s.url, short_clip, modalities="face")
        assert full.status_code == 503 and full.headers.get("retry-after")
        wait_for_job(s.url, ok.json()["id"])


def test_token_is_required_except_for_health(tmp_path, short_clip):
    with ServerProcess(tmp_path / "data", env={"AFFECTLENS_TOKEN": "s3cret"}) as s:
        assert requests.get(s.url + "/v1/health", timeout=5).status_code == 200
        assert requests.get(s.url + "/v1/jobs", timeout=5).status_code == 401
        assert requests.get(s.url + "/v1/jobs", headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
        assert upload(s.url, short_clip).status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        r = upload(s.url, short_clip, headers=good, modalities="face", face_fps=2)
        assert r.status_code == 202
        job_id = r.json()["id"]
        wait_for_job(s.url, job_id, headers=good)
        assert requests.get(f"{s.url}/v1/jobs/{job_id}/result", timeout=5).status_code == 401
        assert requests.get(f"{s.url}/v1/jobs/{job_id}/result", headers=good, timeout=5).status_code == 200
        # the browser's EventSource and <video> cannot send headers: they pass ?token=
        assert requests.get(f"{s.url}/v1/jobs/{job_id}/events?token=s3cret", timeout=10).status_code == 200
        assert requests.get(f"{s.url}/v1/jobs/{job_id}/media?token=wrong", timeout=5).status_code == 401
        assert requests.get(f"{s.url}/openapi.json", timeout=5).status_code == 200


def test_a_non_loopback_host_needs_a_token(tmp_path):
    run = subprocess.run([sys.executable, "-m", "affectlens", "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "token" in run.stderr and "0.0.0.0" in run.stderr
    from affectlens.serve.cli import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")


def test_one_server_per_data_folder(server):
    run = subprocess.run([sys.executable, "-m", "affectlens", "serve", "--data-dir", str(server.data_dir), "--port", "1"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "another server is using" in run.stderr


def test_kill_9_mid_job_then_restart(tmp_path, short_clip):
    """A finished job keeps its result; the job that was running is run again and finishes."""
    data = tmp_path / "data"
    with ServerProcess(data) as s:
        done = upload(s.url, short_clip, modalities="face", face_fps=2).json()["id"]
        wait_for_job(s.url, done)
        long = upload(s.url, SAMPLE, face_fps="all").json()["id"]
        queued = upload(s.url, short_clip, modalities="face", face_fps=2).json()["id"]
        wait_for_job(s.url, long, until=("running",))
        time.sleep(1.0)
        s.kill()
    assert not any(p.name.endswith(".tmp") for p in (data / "jobs" / done).iterdir())
    with ServerProcess(data, port=s.port) as s2:
        job = requests.get(f"{s2.url}/v1/jobs/{done}", timeout=5).json()
        assert job["status"] == "done"
        assert requests.get(f"{s2.url}/v1/jobs/{done}/result", timeout=5).json()["utterances"] is not None
        again = wait_for_job(s2.url, long)
        assert again["status"] == "done" and again["attempts"] == 2
        assert wait_for_job(s2.url, queued)["status"] == "done"
        assert len(requests.get(f"{s2.url}/v1/jobs", timeout=5).json()["jobs"]) == 3


def test_a_job_that_keeps_killing_the_server_is_failed_with_a_reason(tmp_path):
    store = JobStore(tmp_path)
    job = Job(id="0123456789abcdef", status="running", filename="x.mp4", options={}, created=time.time(),
              attempts=MAX_ATTEMPTS)
    store.add(job)
    other = Job(id="fedcba9876543210", status="running", filename="y.mp4", options={}, created=time.time(), attempts=1)
    store.add(other)
    requeued, failed = store.recover()
    assert requeued == ["fedcba9876543210"] and failed == ["0123456789abcdef"]
    assert store.get("0123456789abcdef").status == "failed" and "stopped" in store.get("0123456789abcdef").error
    assert store.get("fedcba9876543210").status == "queued"


def test_50_concurrent_uploads_are_all_answered(tmp_path, short_clip):
    """Accepted (202) or turned away (503), never lost; the server's memory stays bounded."""
    with ServerProcess(tmp_path / "data", "--max-queue", "8") as s:
        rss_before = s.rss_mb()
        answers: list[int] = []
        ids: list[str] = []
        lock = threading.Lock()

        def one() -> None:
            try:
                r = upload(s.url, short_clip, modalities="face", face_fps=1)
                code = r.status_code
                with lock:
                    answers.append(code)
                    if code == 202:
                        ids.append(r.json()["id"])
            except requests.RequestException as e:
                with lock:
                    answers.append(repr(e))

        threads = [threading.Thread(target=one) for _ in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(answers) == 50
        assert set(answers) <= {202, 429, 503}, answers
        assert 1 <= answers.count(202) <= 8 + 1
        listed = {j["id"] for j in requests.get(s.url + "/v1/jobs", timeout=5).json()["jobs"]}
        assert listed == set(ids)
        peak = s.rss_mb(peak=True)
        assert peak < rss_before + 600, (rss_before, peak)
        for job_id in ids:
            assert wait_for_job(s.url, job_id, timeout=300)["status"] == "done"
