"""Live analysis (affectlens.live): the rolling audio, the endpointer, the wire format, the
session on real clips, the command line, and the server's /v1/live socket."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from affectlens.live import LiveSession, RollingAudio, analyze_live
from affectlens.live.protocol import (
    AUDIO,
    FRAME,
    decode_audio,
    decode_frame,
    encode_audio,
    encode_frame,
    pack,
    unpack,
)
from affectlens.live.session import Endpointer

SR = 16_000
SAMPLE = Path(__file__).resolve().parents[1] / "src" / "affectlens" / "sample" / "WolfgangLanger_Pexels.mp4"


def test_rolling_audio_reads_by_absolute_position():
    audio = RollingAudio(seconds=1.0)  # 16,000 samples
    audio.append(np.arange(10_000, dtype=np.float32))
    audio.append(np.arange(10_000, 20_000, dtype=np.float32))
    assert len(audio) == 20_000 and audio.start == 4_000
    np.testing.assert_array_equal(audio[19_990:20_000], np.arange(19_990, 20_000))
    np.testing.assert_array_equal(audio[15_998:16_002], [15_998, 15_999, 16_000, 16_001])  # across the wrap
    # what left the window reads as silence; past the end is empty
    np.testing.assert_array_equal(audio[3_998:4_002], [0, 0, 4_000, 4_001])
    assert audio[20_000:21_000].size == 0
    # a gap (chunks that never arrived) is silence, and the times stay right
    audio.append(np.ones(100, np.float32), at=22_000)
    assert len(audio) == 22_100 and audio[21_990:22_010].tolist() == [0.0] * 10 + [1.0] * 10
    with pytest.raises(TypeError):
        audio[5]


def _speech_like(seconds: float, rng) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    syllables = 0.5 * (1 + np.sin(2 * np.pi * 4 * t))  # 4 syllables a second
    return (0.3 * syllables * np.sin(2 * np.pi * 180 * t) + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def test_endpointer_closes_an_utterance_after_the_pause():
    rng = np.random.default_rng(0)
    quiet = lambda s: (0.001 * rng.standard_normal(int(s * SR))).astype(np.float32)  # noqa: E731
    audio = np.concatenate([quiet(1.5), _speech_like(1.2, rng), quiet(1.5), _speech_like(0.1, rng), quiet(1.0)])
    ep = Endpointer()
    closed = []
    for k in range(0, len(audio), 4096):  # fed in chunks as they arrive
        closed += ep.feed(audio[k:k + 4096], k / SR)
    assert len(closed) == 1, closed  # the 0.1 s click is not an utterance
    start, end = closed[0]
    assert start == pytest.approx(1.5, abs=0.1) and end == pytest.approx(2.7, abs=0.15)
    # speech that never pauses is cut at max_utterance
    ep = Endpointer(max_utterance=2.0)
    long = np.concatenate([quiet(1.0), _speech_like(5.0, rng)])
    assert len(ep.feed(long, 0.0)) >= 2


def test_wire_format_round_trips_and_refuses_garbage():
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:, :32] = (200, 100, 50)
    kind, t, payload = unpack(pack(FRAME, 1.25, encode_frame(rgb, quality=95)))
    assert kind == FRAME and t == 1.25
    back = decode_frame(payload)
    assert back.shape == rgb.shape and np.abs(back.astype(int) - rgb).mean() < 6
    samples = np.sin(np.linspace(0, 20, 1600)).astype(np.float32) * 0.5
    kind, t, payload = unpack(pack(AUDIO, 3.0, encode_audio(samples)))
    assert kind == AUDIO and np.abs(decode_audio(payload) - samples).max() < 1e-3
    for bad in (b"", b"X" + bytes(8), b"F" + bytes(3), b"F" + np.float64(np.nan).tobytes()):
        with pytest.raises(ValueError):
            unpack(bad)
    with pytest.raises(ValueError):
        decode_frame(b"not a jpeg")
    with pytest.raises(ValueError):
        decode_audio(b"abc")


@pytest.mark.slow
def test_a_clip_played_live_gives_faces_labels_words_and_a_result(shared_data):
    clip = shared_data / "video" / "mer2023_samples" / "sample_00001073.mp4"  # happy, speech
    with LiveSession() as session:
        updates = list(analyze_live(clip, realtime=False, session=session))
        frames = [u for u in updates if u.kind == "frame"]
        assert len(frames) >= 25  # 3.7 s at 8 frames per second
        with_face = [u for u in frames if u.data["faces"]]
        assert len(with_face) >= 0.9 * len(frames)
        face = with_face[-1].data["faces"][0]
        assert set(face["probs"]) >= {"happy", "neutral"} and face["aus"] and all(0 <= v <= 5 for v in face["aus"].values())
        assert all(u.data["fused"]["explanation"] for u in frames)
        assert any(u.kind == "voice" for u in updates)
        words = [u for u in updates if u.kind == "words"]
        assert words and words[0].data["text"]  # recognised at the end of the utterance
        utterances = [u for u in updates if u.kind == "utterance"]
        assert utterances and utterances[-1].data["label"] == "happy"
        result = session.result()
    assert len(result.utterances) == len(utterances)
    assert len(result.frames()) >= 25
    payload = json.loads(result.to_json())
    assert payload["options"]["live"] is True and payload["utterances"][0]["segment"]["text"]


@pytest.mark.slow
def test_a_long_stream_keeps_a_bounded_window_of_face_records():
    with LiveSession(modalities=("face",), keep=4.0) as session:
        for _update in analyze_live(SAMPLE, realtime=False, session=session, fps=8):
            pass
        rows = session.face.timeline()
        assert len(rows) > 0
        times = [r.time for r in rows]
        assert max(times) - min(times) <= 4.0 + 50 / 8  # forgotten every 50 frames
        assert session.result().warnings  # says that only the last seconds' face rows are kept


@pytest.mark.slow
def test_live_command_line_prints_json_updates(tmp_path):
    run = subprocess.run([sys.executable, "-m", "affectlens", "live", "--file", str(SAMPLE), "--fast", "--seconds", "2",
                          "--json", "--no-asr", "--save", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    messages = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert sum(m["type"] == "frame" for m in messages) >= 12
    assert (tmp_path / "live.json").is_file() and (tmp_path / "live.html").is_file()
    bad = subprocess.run([sys.executable, "-m", "affectlens", "live", "--file", str(tmp_path / "nope.mp4")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "no such file" in bad.stderr


@pytest.mark.slow
def test_the_server_socket_answers_each_frame_and_saves_the_session(tmp_path):
    import requests

    from affectlens.live import stream_to_server
    from affectlens.testing.server import ServerProcess

    with ServerProcess(tmp_path / "data") as server:
        messages = list(stream_to_server(server.url, SAMPLE, seconds=4, realtime=False, asr=False, save=True))
        kinds = [m["type"] for m in messages]
        assert kinds[0] == "ready" and kinds[-1] == "saved"
        frames = [m for m in messages if m["type"] == "frame"]
        assert len(frames) >= 10 and all(m["fused"]["label"] for m in frames[3:])
        stats = [m for m in messages if m["type"] == "stats"][-1]
        assert stats["frames_analysed"] == len(frames) and stats["bad_messages"] == 0
        assert stats["mean_luma"] > 20 and stats["luma_spread"] > 0.1  # real pictures, not black
        job = requests.get(f"{server.url}/v1/jobs/{messages[-1]['id']}", timeout=5).json()
        assert job["status"] == "done" and job["kind"] == "live"
        # garbage on the socket is counted, not fatal
        from websockets.sync.client import connect

        with connect(server.url.replace("http", "ws") + "/v1/live") as ws:
            ws.send(json.dumps({"type": "start", "asr": False, "modalities": ["face"]}))
            assert json.loads(ws.recv(timeout=60))["type"] == "ready"
            ws.send(b"garbage")
            ws.send(pack(FRAME, 0.0, b"not a jpeg"))
            ws.send(json.dumps({"type": "stop"}))
            last = [json.loads(m) for m in ws]
        assert [m for m in last if m["type"] == "stats"][-1]["bad_messages"] == 2


def test_camera_source_reads_through_opencv():
    """No camera here: OpenCV's capture opens the sample as it would a device; the frames come
    upright, RGB, scaled to the longest side, with stream times; a missing device is one line."""
    from affectlens.core.errors import MediaError
    from affectlens.live import camera_stream

    items = list(camera_stream(str(SAMPLE), fps=50, seconds=0.5, max_side=320))
    assert len(items) >= 5 and all(i.kind == "frame" for i in items)
    assert max(items[0].data.shape[:2]) == 320 and items[0].data.dtype == np.uint8
    assert [i.time for i in items] == sorted(i.time for i in items)
    with pytest.raises(MediaError, match="cannot be opened"):
        next(camera_stream("/dev/no-such-camera"))
