"""The web app and live mode, driven in Debian's Chromium by Playwright.

Chromium is the system one (``executable_path=shutil.which("chromium")``: ``playwright install``
cannot download browsers here; ``.ci/run`` installs it with apt-get). Its fake camera and
microphone play a real clip, made into y4m + wav with ffmpeg, so the live test sends real frames
and real speech through the page's own capture code.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from affectlens.testing.server import ServerProcess

pytestmark = pytest.mark.slow
LIVE_CLIP = "sample_00001073.mp4"  # MER2023: one face, happy (human label), 3.7 s, looped by Chromium
LIVE_SECONDS = 12.0

if shutil.which("chromium") is None or shutil.which("ffmpeg") is None:
    pytest.skip("the browser tests need chromium and ffmpeg (.ci/run installs them with apt-get)",
                allow_module_level=True)
pytest.importorskip("playwright")


@pytest.fixture(scope="session")
def mer_dir(shared_data) -> Path:
    return shared_data / "video" / "mer2023_samples"


@pytest.fixture(scope="session")
def fake_devices(tmp_path_factory, mer_dir) -> tuple[Path, Path]:
    """The live clip as Chromium's fake camera (y4m) and microphone (wav)."""
    out = tmp_path_factory.mktemp("fake-devices")
    clip = mer_dir / LIVE_CLIP
    y4m, wav = out / "camera.y4m", out / "microphone.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip), "-vf", "scale=640:-2,fps=15",
                    "-pix_fmt", "yuv420p", str(y4m)], check=True, timeout=120)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip), "-vn", "-ac", "1", "-ar", "48000",
                    "-c:a", "pcm_s16le", str(wav)], check=True, timeout=120)
    return y4m, wav


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, fake_devices):
    y4m, wav = fake_devices
    return {
        **browser_type_launch_args,
        "executable_path": shutil.which("chromium"),
        "args": ["--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-video-capture={y4m}", f"--use-file-for-fake-audio-capture={wav}",
                 "--autoplay-policy=no-user-gesture-required"],
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("serve-browser") / "data") as s:
        yield s


def test_upload_flow_shows_the_utterance_labels(page, server, mer_dir):
    clip = mer_dir / "sample_00000338.mp4"
    page.goto(server.url + "/")
    page.get_by_test_id("upload-input").set_input_files(str(clip))
    page.get_by_test_id("upload-submit").click()
    labels = page.get_by_test_id("utterance-label")
    labels.first.wait_for(timeout=240_000)
    assert "done" in page.get_by_test_id("job-status").inner_text()
    shown = [t.strip() for t in labels.all_inner_texts()]
    job_id = page.url.split("job=")[1]
    result = requests.get(f"{server.url}/v1/jobs/{job_id}/result?format=json", timeout=10).json()
    assert shown == [u["fused"]["label"] for u in result["utterances"]]
    # the player, the lanes, the downloads and the job list
    assert page.locator("video#player").get_attribute("src").endswith(f"/v1/jobs/{job_id}/media")
    assert page.get_by_test_id("lane-fused").locator(".block").count() == len(shown)
    for fmt in ("json", "html", "csv", "srt"):
        href = page.get_by_test_id(f"download-{fmt}").get_attribute("href")
        assert requests.get(server.url + href, timeout=10).status_code == 200
    page.locator("tr.utt").last.click()
    assert page.evaluate("document.getElementById('player').currentTime") == pytest.approx(
        result["utterances"][-1]["segment"]["start"], abs=0.3)
    assert "sample_00000338.mp4" in page.locator("#job-list").inner_text()


def test_page_assets_are_served_by_the_package(page, server):
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    for path in ("/", "/live", "/docs"):
        page.goto(server.url + path)
        page.wait_for_load_state("networkidle")
    assert requested and all(u.startswith(server.url) for u in requested), [u for u in requested
                                                                             if not u.startswith(server.url)]
    assert page.locator("[data-testid=route]").count() >= 7  # /docs rendered the schema offline


def test_live_flow_with_fake_camera_and_microphone(page, server, mer_dir):
    """Real frames reach the server, the page shows a fused label that agrees with the offline
    analysis of the same clip, and the stopped session is saved as a normal result."""
    from affectlens.pipeline import Pipeline

    page.goto(server.url + "/live")
    page.get_by_test_id("live-start").click()
    emotion = page.get_by_test_id("live-emotion")
    page.wait_for_function("document.querySelector('[data-testid=live-emotion]').textContent !== '–'",
                           timeout=90_000)
    seen: collections.Counter = collections.Counter()
    end = time.monotonic() + LIVE_SECONDS
    while time.monotonic() < end:
        seen[emotion.inner_text().strip()] += 1
        time.sleep(0.2)
    page.get_by_test_id("live-stop").click()
    page.get_by_test_id("live-saved-link").wait_for(timeout=120_000)
    job_id = page.get_by_test_id("live-saved-link").get_attribute("href").split("job=")[1]
    saved = requests.get(f"{server.url}/v1/jobs/{job_id}/result?format=json", timeout=10).json()

    # real frames, not black: faces were found in them
    frames = saved["frames"]
    assert len(frames) >= 20, len(frames)
    assert len({round(f["box"][0]) for f in frames}) > 1  # the face moved: a moving picture, not one still
    assert saved["utterances"], "the saved session has no utterances"
    assert requests.get(f"{server.url}/v1/jobs/{job_id}/result?format=html", timeout=10).status_code == 200

    with Pipeline() as pipeline:
        offline = pipeline(mer_dir / LIVE_CLIP)
    offline_labels = {u.fused.label for u in offline.utterances if not u.fused.no_evidence}
    live_label, _ = seen.most_common(1)[0]
    assert live_label in offline_labels, (seen, offline_labels)
