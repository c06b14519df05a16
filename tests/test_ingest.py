"""Decoding real media and refusing bad input with a clear error."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from affectlens.core.errors import MediaError
from affectlens.core.types import MediaKind
from affectlens.ingest.decode import decode, probe


def test_probe_and_decode_video_streams_sampled_frames(pexels_clip):
    info = probe(pexels_clip)
    assert info.kind is MediaKind.VIDEO and info.has_audio and (info.width, info.height) == (640, 360)
    times = []
    report = decode(info, frame_rate=5, on_frame=lambda f: times.append(f.time))
    assert 90 <= len(times) <= 105  # 19.7 s at 5 fps
    assert np.all(np.diff(times) > 0.15)
    assert report.audio is not None and abs(len(report.audio) / 16000 - 19.69) < 0.1


def test_hevc_with_short_audio(demo_dir):
    info = probe(demo_dir / "face_noface.mov")
    frames = []
    report = decode(info, frame_rate=2, on_frame=lambda f: frames.append(f))
    assert frames and frames[-1].time > 6.0  # video runs past the 4 s of audio
    assert abs(len(report.audio) / 16000 - 4.0) < 0.1


def test_image_is_one_frame(demo_dir):
    info = probe(demo_dir / "multi_face.jpg")
    frames = []
    decode(info, on_frame=frames.append)
    assert info.kind is MediaKind.IMAGE and len(frames) == 1 and frames[0].image.shape[2] == 3


def test_huge_frames_are_scaled_down(pexels_clip):
    info = probe(pexels_clip)
    shapes = []
    decode(info, frame_rate=1, on_frame=lambda f: shapes.append(f.image.shape), max_side=320, want_audio=False)
    assert shapes and max(shapes[0][:2]) == 320


@pytest.mark.parametrize("content", [b"", b"this is not a video at all" * 100, bytes(range(256)) * 50])
def test_garbage_files_raise_media_error(tmp_path, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(MediaError):
        probe(bad)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        probe(tmp_path / "nope.mp4")
    with pytest.raises(MediaError, match="folder"):
        probe(tmp_path)


def test_truncated_video_keeps_what_was_decoded(tmp_path, pexels_clip):
    data = pexels_clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    # moov atom is at the start of this file, so the first half decodes and the rest is missing
    cut.write_bytes(data[: len(data) // 2])
    try:
        info = probe(cut)
    except MediaError:
        return  # refusing with a clear error is also acceptable
    frames = []
    report = decode(info, frame_rate=2, on_frame=frames.append)
    assert frames, "the decodable half should yield frames"
    assert frames[-1].time < 15.0
    assert isinstance(report.warnings, list)


def test_broken_image(tmp_path, demo_dir):
    bad = tmp_path / "broken.jpg"
    shutil.copy(demo_dir / "multi_face.jpg", bad)
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(MediaError):
        probe(bad)


def test_rotation_metadata_is_applied():
    """A 96x64 clip tagged to display rotated by 90 degrees (made with ffmpeg, 13 kB)."""
    from pathlib import Path

    clip = Path(__file__).parent / "fixtures" / "gen" / "rotated90.mp4"
    info = probe(clip)
    assert info.rotation == 90 and (info.width, info.height) == (64, 96)
    frames = []
    decode(info, frame_rate=None, on_frame=frames.append)
    assert frames[0].image.shape == (96, 64, 3)  # upright, as ffmpeg's autorotate shows it


def test_voice_activity_in_pieces_keeps_the_speech(shared_data):
    """Long audio is judged in pieces (bounded memory); on real speech, every stretch that the
    whole-file pass finds is found by the pieces too, and no region is cut into slivers."""
    from affectlens.ingest.decode import decode, probe
    from affectlens.segments.vad import speech_regions

    clip = shared_data / "video" / "mer2023_samples" / "sample_00000694.mp4"
    audio = decode(probe(clip), frame_rate=0).audio
    whole = speech_regions(audio, max_region=15, chunk_seconds=1e6)
    pieces = speech_regions(audio, max_region=15, chunk_seconds=4.0)
    assert len(whole) >= 2
    for region in whole:
        assert any(min(region.end, p.end) - max(region.start, p.start) > 0 for p in pieces), region
    assert all(p.end - p.start >= 0.2 for p in pieces)
    assert all(a.end <= b.start for a, b in zip(pieces, pieces[1:], strict=False))


def test_decode_ahead_hands_over_the_same_frames_and_stops_on_error(shared_data):
    """Decoding a few frames ahead in a second thread gives the consumer exactly what decode()
    gives, and an exception in the consumer ends the decoding thread instead of leaving it blocked."""
    import threading

    from affectlens.ingest.decode import decode, decode_ahead, probe

    info = probe(shared_data / "video" / "demo" / "WolfgangLanger_Pexels.mp4")
    plain, ahead = [], []
    decode(info, frame_rate=5.0, on_frame=lambda f: plain.append((f.index, f.image.sum())), want_audio=False)
    report = decode_ahead(info, frame_rate=5.0, on_frame=lambda f: ahead.append((f.index, f.image.sum())),
                          want_audio=False)
    assert ahead == plain and report.frames_sampled == len(plain)

    def fail(frame):
        if frame.index > 20:
            raise RuntimeError("consumer failed")

    before = threading.active_count()
    with pytest.raises(RuntimeError, match="consumer failed"):
        decode_ahead(info, frame_rate=None, on_frame=fail, want_audio=False)
    assert threading.active_count() == before


def test_audio_buffer_reserves_a_bounded_amount_and_grows():
    """Broken metadata can claim years of audio: the buffer reserves at most a few hours and
    grows as samples really arrive, keeping every sample in order."""
    from affectlens.ingest.decode import _AudioBuffer

    buffer = _AudioBuffer(1e9)
    assert buffer._data.size <= (_AudioBuffer.MAX_RESERVED_SECONDS + 1) * 16_000
    small = _AudioBuffer(0.5)
    chunks = [np.full(7_000, k, np.float32) for k in range(10)]
    for c in chunks:
        small.append(c)
    track = small.track()
    assert np.array_equal(track[:], np.concatenate(chunks)) and track[:].dtype == np.float32


def test_audio_track_halves_memory_and_reads_back_float32():
    """The track is held at half precision and read back as float32, within float16's
    rounding (11 significant bits) at any level; non-finite samples become silence."""
    from affectlens.core.audio import AudioTrack

    rng = np.random.default_rng(0)
    for level in (1e-3, 0.5):  # a quiet and a loud speaker keep the same relative precision
        samples = (rng.standard_normal(16_000) * level).astype(np.float32)
        track = AudioTrack(samples)
        assert track.nbytes == samples.nbytes // 2 and len(track) == track.size == 16_000
        part = track[100:200]
        assert part.dtype == np.float32 and part.shape == (100,)
        assert np.allclose(track[:], samples, rtol=2 ** -10, atol=1e-7)
    broken = AudioTrack(np.array([np.nan, np.inf, -np.inf, 1e9, 0.25], np.float32))
    assert np.all(np.isfinite(broken[:])) and broken[0] == 0.0 and broken[4] == 0.25
    assert np.asarray(broken).dtype == np.float32
