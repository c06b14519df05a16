"""Awkward and broken inputs, made on the spot from a real clip, for robustness checks.

Users hand a tool like this whatever they have: files cut short, files named for what they
are not, odd codecs and containers, telephone audio, 5.1 mixes, silence, faceless footage,
thumbnails and 12-megapixel frames. Each :class:`Kind` below writes one such input (with
PyAV, which carries its own FFmpeg; nothing is committed) and says what a user must get:

* ``"result"``: an analysis, where a modality with nothing to go on says so per utterance;
* ``"error"``: one line naming the file and what was expected, and a non-zero exit;
* ``"either"``: the input is borderline (a header with no samples, a cut-off JPEG) and both
  outcomes are honest, but never a traceback, a hang, or unbounded memory.

The test suite (``tests/test_bad_input.py``) runs every kind through one batch beside good
files; ``benchmarks/reliability.py`` runs each in its own process and records time, peak
memory and what reached the terminal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

#: The source should hold a face and speech (the tests use a MER2023 sample from the shared
#: data); the bundled sample has a face but a silent track, which still exercises every kind.
SAMPLE = Path(__file__).resolve().parents[1] / "sample" / "WolfgangLanger_Pexels.mp4"
SECONDS = 3.0


@dataclass(frozen=True)
class Source:
    """A few seconds of the sample, decoded once: upright RGB frames and 48 kHz mono audio."""

    frames: list[np.ndarray]
    fps: int
    audio: np.ndarray  # float32 [n] at ``rate``
    rate: int = 48_000


def load_source(path: Path = SAMPLE, seconds: float = SECONDS) -> Source:
    import av

    frames, chunks = [], []
    with av.open(str(path)) as c:
        fps = int(round(float(c.streams.video[0].average_rate or 24)))
        for f in c.decode(video=0):
            if f.time is not None and f.time >= seconds:
                break
            frames.append(f.to_ndarray(format="rgb24", width=f.width // 2 * 2, height=f.height // 2 * 2))
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=48_000)
        for f in c.decode(audio=0):
            for out in resampler.resample(f):
                chunks.append(out.to_ndarray().reshape(-1))
            if f.time is not None and f.time >= seconds:
                break
    audio = np.concatenate(chunks)[: int(seconds * 48_000)].astype(np.float32)
    return Source(frames, fps, audio)


LOSSY_AUDIO = {"aac", "libopus", "libmp3lame", "ac3", "mp2"}


# -- writers --------------------------------------------------------------------------------


def write_media(
    path: Path,
    frames: list[np.ndarray] | None,
    fps: int = 24,
    audio: np.ndarray | None = None,
    rate: int = 48_000,
    *,
    vcodec: str = "libx264",
    pix_fmt: str = "yuv420p",
    acodec: str = "aac",
    layout: str = "mono",
    pts: list[int] | None = None,
    container_options: dict[str, str] | None = None,
    audio_tracks: int = 1,
    audio_start: float = 0.0,
) -> Path:
    """Encode ``frames`` (RGB) and/or ``audio`` (float32, mono or [channels, n]) into ``path``."""
    import av

    with av.open(str(path), "w", options=container_options or {}) as out:
        v = None
        if frames:
            quiet = {"x265-params": "log-level=none"} if vcodec == "libx265" else {}
            v = out.add_stream(vcodec, rate=fps, options=quiet)
            v.height, v.width = frames[0].shape[:2]
            v.pix_fmt = pix_fmt
            if pts is not None:
                v.codec_context.time_base = Fraction(1, 1000)
        streams = []
        if audio is not None:
            for _ in range(audio_tracks):
                a = out.add_stream(acodec, rate=rate)
                a.layout = layout
                if acodec in LOSSY_AUDIO:
                    a.bit_rate = 96_000  # PyAV's default leaves speech at a few kbit/s
                streams.append(a)
        for i, rgb in enumerate(frames or []):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], Fraction(1, 1000)
            for p in v.encode(frame):
                out.mux(p)
        if v is not None:
            for p in v.encode():
                out.mux(p)
        for a in streams:
            samples = audio if audio.ndim == 2 else audio[None]
            step = a.codec_context.frame_size or 1024
            offset = int(audio_start * rate)
            fmt = "fltp" if acodec not in ("pcm_s16le", "pcm_mulaw", "pcm_f32le", "flac", "alac") else None
            for k in range(0, samples.shape[1], step):
                block = np.ascontiguousarray(samples[:, k : k + step], dtype=np.float32)
                if fmt is None:
                    frame = _packed_frame(block, acodec, layout)
                else:
                    frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
                frame.sample_rate, frame.pts, frame.time_base = rate, offset + k, Fraction(1, rate)
                for p in a.encode(frame):
                    out.mux(p)
            for p in a.encode():
                out.mux(p)
    return path


def _packed_frame(block: np.ndarray, codec: str, layout: str):
    import av

    if codec in ("pcm_s16le", "pcm_mulaw", "alac", "flac"):
        ints = np.clip(np.nan_to_num(block) * 32767, -32768, 32767).astype(np.int16)
        return av.AudioFrame.from_ndarray(ints.T.reshape(1, -1), format="s16", layout=layout)
    return av.AudioFrame.from_ndarray(block.T.reshape(1, -1), format="flt", layout=layout)


def _resize(frames: list[np.ndarray], width: int, height: int) -> list[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.fromarray(f).resize((width, height))) for f in frames]


def _every(frames: list[np.ndarray], step: int) -> list[np.ndarray]:
    return frames[::step]


# -- the kinds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    name: str  # also the file name
    expect: str  # "result", "error" or "either"
    what: str
    make: Callable[[Source, Path], None]


def _bytes(data: bytes) -> Callable[[Source, Path], None]:
    return lambda src, path: path.write_bytes(data)


def _good_mp4(src: Source, path: Path, **kw) -> None:
    write_media(path, src.frames, src.fps, src.audio, **kw)


def _truncated(fraction: float, faststart: bool) -> Callable[[Source, Path], None]:
    def make(src: Source, path: Path) -> None:
        full = path.with_suffix(".full" + path.suffix)
        _good_mp4(src, full, container_options={"movflags": "faststart"} if faststart else None)
        data = full.read_bytes()
        full.unlink()
        path.write_bytes(data[: int(len(data) * fraction)])

    return make


def _corrupt_middle(src: Source, path: Path) -> None:
    full = path.with_suffix(".full" + path.suffix)
    write_media(full, src.frames, src.fps, src.audio, acodec="libopus")
    data = bytearray(full.read_bytes())
    full.unlink()
    rng = np.random.default_rng(0)
    a = len(data) // 3
    data[a : a + len(data) // 10] = rng.integers(0, 256, len(data) // 10, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _noise_frames(src: Source, path: Path) -> None:
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (240, 320, 3), dtype=np.uint8) for _ in range(len(src.frames) // 2)]
    write_media(path, frames, 12, src.audio)


def _vfr(src: Source, path: Path) -> None:
    rng = np.random.default_rng(2)
    gaps = rng.choice([20, 41, 83, 150], size=len(src.frames))  # ms between frames, uneven
    pts = np.cumsum(gaps).astype(int).tolist()
    keep = [i for i, t in enumerate(pts) if t < SECONDS * 1000]
    write_media(path, [src.frames[i] for i in keep], 24, src.audio, pts=[pts[i] for i in keep],
                vcodec="mpeg4", acodec="libopus")


def _wav_header_only(src: Source, path: Path) -> None:
    import struct

    header = b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
    path.write_bytes(header + b"data" + struct.pack("<I", 0))


def _wav_lying_length(src: Source, path: Path) -> None:
    """A WAV whose header claims ~4 GB of samples but holds three seconds."""
    import struct

    pcm = (np.clip(src.audio[::3], -1, 1) * 32767).astype("<i2").tobytes()
    header = (b"RIFF" + struct.pack("<I", 0xFFFFFFF0) + b"WAVEfmt "
              + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16) + b"data" + struct.pack("<I", 0xFFFFFF00))
    path.write_bytes(header + pcm)


def _nan_audio(src: Source, path: Path) -> None:
    audio = src.audio.copy()
    audio[::997] = np.nan
    audio[5::1999] = np.inf
    write_media(path, None, audio=audio, acodec="pcm_f32le")


def _image(mode: str, size: tuple[int, int] | None = None, fmt: str | None = None,
           cut: float | None = None) -> Callable[[Source, Path], None]:
    def make(src: Source, path: Path) -> None:
        import io

        from PIL import Image

        im = Image.fromarray(src.frames[len(src.frames) // 2])
        if size:
            im = im.resize(size)
        im = im.convert(mode)
        buf = io.BytesIO()
        im.save(buf, format=fmt or ("PNG" if path.suffix == ".png" else "JPEG"))
        data = buf.getvalue()
        path.write_bytes(data[: int(len(data) * cut)] if cut else data)

    return make


def _huge_frames(src: Source, path: Path) -> None:
    frames = _resize(_every(src.frames, 12), 4000, 3000)
    write_media(path, frames, 2, src.audio, vcodec="mjpeg", pix_fmt="yuvj420p", acodec="pcm_s16le")


def _folder_named_like_a_file(src: Source, path: Path) -> None:
    path.mkdir()


KINDS: tuple[Kind, ...] = (
    Kind("empty.mp4", "error", "a file of zero bytes", _bytes(b"")),
    Kind("random_bytes.mp4", "error", "random bytes with a video name",
         lambda src, p: p.write_bytes(np.random.default_rng(3).integers(0, 256, 50_000, dtype=np.uint8).tobytes())),
    Kind("text_named_as_video.mp4", "error", "a text file named .mp4", _bytes(b"this is not a video\n" * 200)),
    Kind("pdf_named_as_audio.wav", "error", "a PDF named .wav", _bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"0" * 4000)),
    Kind("html_named_as_image.jpg", "error", "an HTML page named .jpg", _bytes(b"<!doctype html><html></html>")),
    Kind("truncated_index_at_end.mp4", "error", "an MP4 cut at 60% whose index was at the end",
         _truncated(0.6, faststart=False)),
    Kind("truncated_faststart.mp4", "result", "an MP4 cut at 60% with its index first", _truncated(0.6, faststart=True)),
    Kind("corrupt_middle.mkv", "result", "a Matroska file with a tenth of its bytes overwritten", _corrupt_middle),
    Kind("video_without_audio.mp4", "result", "frames, no audio track",
         lambda src, p: write_media(p, src.frames, src.fps, None)),
    Kind("audio_only.m4a", "result", "AAC audio, no video", lambda src, p: write_media(p, None, audio=src.audio)),
    Kind("silence.wav", "result", "three seconds of digital silence",
         lambda src, p: write_media(p, None, audio=np.zeros_like(src.audio), acodec="pcm_s16le")),
    Kind("video_with_silent_audio.mp4", "result", "the face, with a silent audio track",
         lambda src, p: write_media(p, src.frames, src.fps, np.zeros_like(src.audio))),
    Kind("no_face.mp4", "result", "noise frames with speech", _noise_frames),
    Kind("black_frames.mp4", "result", "black frames with speech",
         lambda src, p: write_media(p, [np.zeros((180, 320, 3), np.uint8)] * 36, 12, src.audio)),
    Kind("tiny_16x16.mp4", "result", "16x16 frames",
         lambda src, p: write_media(p, _resize(src.frames, 16, 16), src.fps, src.audio)),
    Kind("odd_size_101x75.mkv", "result", "odd frame size, lossless RGB codec",
         lambda src, p: write_media(p, _resize(_every(src.frames, 2), 101, 75), 12, src.audio, vcodec="ffv1",
                                    pix_fmt="bgr0", acodec="flac")),
    Kind("huge_4000x3000.mov", "result", "12-megapixel MJPEG frames with PCM audio", _huge_frames),
    Kind("one_frame.mp4", "result", "a single frame and its audio",
         lambda src, p: write_media(p, src.frames[:1], 1, src.audio)),
    Kind("variable_frame_rate.mkv", "result", "uneven frame spacing (20-150 ms), MPEG-4 + Opus", _vfr),
    Kind("mpeg4_mp3.avi", "result", "MPEG-4 part 2 + MP3 in AVI",
         lambda src, p: write_media(p, src.frames, src.fps, src.audio, vcodec="mpeg4", acodec="libmp3lame")),
    Kind("vp9_opus.webm", "result", "VP9 + Opus in WebM",
         lambda src, p: write_media(p, _every(src.frames, 2), 12, src.audio, vcodec="libvpx-vp9", acodec="libopus")),
    Kind("hevc_ac3_51.mkv", "result", "HEVC + 5.1 AC-3",
         lambda src, p: write_media(p, _every(src.frames, 2), 12, np.tile(src.audio, (6, 1)), vcodec="libx265",
                                    acodec="ac3", layout="5.1")),
    Kind("mpeg2_mp2.mpg", "result", "MPEG-2 + MP2 program stream",
         lambda src, p: write_media(p, src.frames, 24, src.audio, vcodec="mpeg2video", acodec="mp2")),
    Kind("telephone_8k_mulaw.wav", "result", "8 kHz mu-law telephone audio",
         lambda src, p: write_media(p, None, audio=src.audio[::6].copy(), rate=8000, acodec="pcm_mulaw")),
    Kind("stereo_48k.flac", "result", "48 kHz stereo FLAC",
         lambda src, p: write_media(p, None, audio=np.stack([src.audio, src.audio * 0.5]), acodec="flac",
                                    layout="stereo")),
    Kind("opus_in_ogg.ogg", "result", "Opus in Ogg", lambda src, p: write_media(p, None, audio=src.audio, acodec="libopus")),
    Kind("alac.m4a", "result", "Apple lossless", lambda src, p: write_media(p, None, audio=src.audio, acodec="alac")),
    Kind("wav_header_only.wav", "either", "a WAV header with no samples", _wav_header_only),
    Kind("wav_lying_length.wav", "result", "a WAV header claiming 4 GB, three seconds inside", _wav_lying_length),
    Kind("nan_and_inf_samples.wav", "result", "float WAV with NaN and infinite samples", _nan_audio),
    Kind("clipped_square.wav", "result", "a full-scale square wave",
         lambda src, p: write_media(p, None, audio=np.sign(np.sin(np.arange(48_000 * 2) * 2 * math.pi * 220 / 48_000))
                                    .astype(np.float32), acodec="pcm_s16le")),
    Kind("very_quiet_speech.wav", "result", "speech at -70 dBFS",
         lambda src, p: write_media(p, None, audio=src.audio * 3e-4, acodec="pcm_f32le")),
    Kind("delayed_audio.mp4", "result", "the audio track starts one second late",
         lambda src, p: write_media(p, src.frames, src.fps, src.audio[: 48_000 * 2], audio_start=1.0)),
    Kind("two_audio_tracks.mkv", "result", "two audio tracks",
         lambda src, p: write_media(p, src.frames, src.fps, src.audio, acodec="libopus", audio_tracks=2)),
    Kind("rgba.png", "result", "an RGBA PNG", _image("RGBA")),
    Kind("greyscale.jpg", "result", "a greyscale JPEG", _image("L")),
    Kind("one_pixel.png", "result", "a 1x1 image", _image("RGB", (1, 1))),
    Kind("png_named_as_jpeg.jpg", "result", "a PNG with a .jpg name", _image("RGB", fmt="PNG")),
    Kind("cut_off_jpeg.jpg", "either", "a JPEG cut at half its bytes", _image("RGB", cut=0.5)),
    Kind("a folder named clip.mp4", "error", "a folder where a file was expected", _folder_named_like_a_file),
    Kind("name with spaces, accents é and emoji 🎬.mp4", "result", "an awkward file name",
         lambda src, p: write_media(p, _every(src.frames, 2), 12, src.audio)),
)


def make_kinds(directory: Path, kinds: tuple[Kind, ...] = KINDS, source: Source | None = None) -> dict[str, Path]:
    """Write every kind into ``directory``; returns name -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    source = source or load_source()
    out = {}
    for kind in kinds:
        path = directory / kind.name
        if not path.exists():
            kind.make(source, path)
        out[kind.name] = path
    return out
