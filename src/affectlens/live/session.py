"""Live analysis: frames and audio chunks in, a fused and explained label out, continuously.

The same modalities, fusion and explanation as a file, fed as the stream arrives:

* **face**, per frame: the file pipeline's :class:`~affectlens.modalities.face.FaceModality`
  observes each frame (detector, mesh, AUs, expression); its evidence is taken over the last
  ``face_window`` seconds. Records older than ``keep`` seconds are dropped, so memory and the
  cost of a frame stay flat over hours (AU baselines are then the last ``keep`` seconds).
* **voice**, over a rolling ``voice_window`` (2.5 s), re-judged every ``voice_every`` seconds of
  new audio, in a worker thread so frames never wait for it.
* **words**, when an utterance ends: a simple energy endpointer closes it after a pause (or at
  ``max_utterance``), speech recognition transcribes it, the words model reads it.
* Every frame gets a **fused label** with its explanation from the freshest evidence of each
  modality (voice and words count while they are recent). Each closed utterance (or
  ``silence_window`` of silence) is also judged as a whole and kept: :meth:`LiveSession.result`
  turns the session into a normal :class:`~affectlens.result.Result` (JSON, HTML...).

Timestamps are the stream's own (seconds from its start, as the sender says), so frames and
audio line up whatever the network did.
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..core.types import Evidence, MediaInfo, MediaKind, Segment, Utterance, VideoFrame
from ..explain.templates import explain
from ..fusion.fuse import fuse
from ..modalities.base import SAMPLE_RATE, AnalysisContext
from ..modalities.voice.features import frame_rms_db

log = logging.getLogger(__name__)
FRAME = 320  # 20 ms at 16 kHz


class RollingAudio:
    """The last ``seconds`` of 16 kHz mono audio, indexed by absolute sample number.

    It stands where the file pipeline's audio track stands (``len()`` and slicing with
    absolute positions), so the modalities read live audio with the times of the stream.
    Samples that have left the window read as silence.
    """

    def __init__(self, seconds: float = 30.0) -> None:
        self.capacity = int(seconds * SAMPLE_RATE)
        self._buf = np.zeros(self.capacity, dtype=np.float32)
        self.end = 0  # absolute index one past the newest sample
        self.dtype = np.dtype(np.float32)

    @property
    def start(self) -> int:
        return max(0, self.end - self.capacity)

    def append(self, samples: np.ndarray, at: int | None = None) -> None:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)[-self.capacity:]
        if at is not None and at > self.end:  # a gap (dropped chunks): silence
            gap = min(at - self.end, self.capacity)
            self._write(np.zeros(gap, dtype=np.float32))
            self.end = at
        self._write(samples)

    def _write(self, samples: np.ndarray) -> None:
        n = len(samples)
        if n == 0:
            return
        pos = self.end % self.capacity
        first = min(n, self.capacity - pos)
        self._buf[pos:pos + first] = samples[:first]
        self._buf[: n - first] = samples[first:]
        self.end += n

    def __len__(self) -> int:
        return self.end

    @property
    def size(self) -> int:
        return self.end

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("RollingAudio supports plain slices only")
        a = 0 if key.start is None else max(0, int(key.start))
        b = self.end if key.stop is None else min(self.end, int(key.stop))
        if b <= a:
            return np.zeros(0, dtype=np.float32)
        out = np.zeros(b - a, dtype=np.float32)
        lo = max(a, self.start)
        if lo < b:
            idx = np.arange(lo, b) % self.capacity
            out[lo - a:] = self._buf[idx]
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self[self.start:self.end].astype(dtype or np.float32)


@dataclass
class Endpointer:
    """Where utterances start and end in a live stream, from 20 ms frame levels.

    A frame is speech when it is above ``min_db`` and ``margin_db`` over the noise floor (a low
    percentile of the last few seconds). An utterance closes after ``pause`` seconds of
    non-speech, or at ``max_utterance`` seconds.
    """

    min_db: float = -50.0
    margin_db: float = 12.0
    pause: float = 0.6
    min_speech: float = 0.3
    max_utterance: float = 8.0
    _levels: deque = field(default_factory=lambda: deque(maxlen=250))  # 5 s of frames
    _start: float | None = None
    _last_speech: float = 0.0
    _speech: float = 0.0
    _pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    _t: float = 0.0

    def feed(self, samples: np.ndarray, t0: float) -> list[tuple[float, float]]:
        """Frames of ``samples`` starting at ``t0``; returns the utterances that closed."""
        if not len(self._pending):
            self._t = t0
        audio = np.concatenate([self._pending, np.asarray(samples, np.float32)])
        n = len(audio) // FRAME
        self._pending = audio[n * FRAME:]
        closed = []
        for level in frame_rms_db(audio[: n * FRAME]):
            self._levels.append(level)
            floor = float(np.percentile(self._levels, 10))
            t = self._t
            self._t += FRAME / SAMPLE_RATE
            speech = level > self.min_db and level > floor + self.margin_db
            if speech:
                if self._start is None:
                    self._start, self._speech = t, 0.0
                self._last_speech = self._t
                self._speech += FRAME / SAMPLE_RATE
            if self._start is not None and (
                (not speech and self._t - self._last_speech >= self.pause)
                or self._t - self._start >= self.max_utterance
            ):
                if self._speech >= self.min_speech:
                    closed.append((self._start, self._last_speech))
                self._start = None
        return closed

    @property
    def speaking(self) -> bool:
        return self._start is not None


@dataclass
class LiveUpdate:
    """One message of the live stream.

    ``kind`` is ``frame`` (face per frame and the fused label now), ``voice`` (the rolling
    window re-judged), ``words`` (an utterance recognised and read) or ``utterance`` (a closed
    utterance judged as a whole, as a file's would be).
    """

    kind: str
    time: float
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "t": round(self.time, 3), **self.data}


def _evidence_dict(ev: Evidence | None) -> dict[str, Any] | None:
    if ev is None:
        return None
    return {"available": ev.available, "label": ev.label, "probs": ev.probs, "reliability": ev.reliability,
            "cues": [c.description for c in ev.cues[:5]], "reason": ev.reason}


def _judge(seg: Segment, evidence: dict[str, Evidence]) -> Utterance:
    """Fusion and explanation of one stretch, as the file pipeline does for an utterance."""
    fused = fuse(evidence)
    return Utterance(seg, evidence, fused, explain(seg, evidence, fused))


def _fused_dict(u: Utterance) -> dict[str, Any]:
    f = u.fused
    return {"label": None if f.no_evidence else f.label, "probs": f.probs, "valence": f.valence,
            "arousal": f.arousal, "contributions": f.contributions, "explanation": u.explanation.text,
            "cues": [{"modality": c.modality, "description": c.description} for c in u.explanation.cues]}


class LiveSession:
    """Analyse one live stream (a camera and a microphone, or a file played in real time).

    Parameters
    ----------
    modalities : tuple of str
        Any of face, voice, words.
    asr : bool, default=True
        Recognise speech at each utterance's end (off: words are not judged).
    language : str, optional
        The speech language (detected on the first utterance when None).
    face_window, voice_window : float
        Seconds of face records and of audio behind each fused label.
    voice_every : float
        Seconds of new audio between two judgements of the voice window.
    keep : float
        Seconds of face records and audio kept (memory stays flat).
    silence_window : float
        Without speech, a stretch this long is closed as a (silent) utterance of its own.

    Call :meth:`add_frame` and :meth:`add_audio` from one thread, in any interleaving;
    :meth:`poll` returns what the worker thread finished since the last call.
    """

    def __init__(self, *, modalities: tuple[str, ...] = ("face", "voice", "words"), asr: bool = True,
                 language: str | None = None, face_window: float = 1.5, voice_window: float = 2.5,
                 voice_every: float = 1.0, keep: float = 20.0, silence_window: float = 3.0,
                 words_fresh: float = 8.0, voice_fresh: float = 3.0) -> None:
        from ..modalities.base import MODALITIES
        from ..pipeline import available_modalities

        available_modalities()  # imports (registers) the modality folders
        self.modalities = tuple(modalities)
        self.asr = asr
        self.language = language
        self.face_window, self.voice_window, self.voice_every = face_window, voice_window, voice_every
        self.keep, self.silence_window = keep, silence_window
        self.words_fresh, self.voice_fresh = words_fresh, voice_fresh
        self.media = MediaInfo(path="live", kind=MediaKind.VIDEO, duration=0.0, has_audio=True, has_video=True)
        self.face = MODALITIES["face"](frame_rate=None) if "face" in self.modalities else None
        self.voice = MODALITIES["voice"]() if "voice" in self.modalities else None
        self.words = MODALITIES["words"]() if "words" in self.modalities and asr else None
        if self.face is not None:
            self.face.start(self.media, threads=1)
        self.audio = RollingAudio(max(keep, 30.0))
        self.endpointer = Endpointer()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="affectlens-live")
        self._futures: deque[Future] = deque()
        self._face_requests: list[tuple[Segment, Future]] = []  # see _serve_face_requests
        self._lock = threading.Lock()
        self._voice: tuple[float, Evidence] | None = None  # (window end, evidence)
        self._words: tuple[float, Evidence, Segment] | None = None
        self._next_voice = voice_window
        self._last_closed = 0.0
        self._frame_index = 0
        self._last_time = 0.0
        self.history: list[Utterance] = []
        self.timeline: list[dict[str, Any]] = []  # (time, fused label) once per frame, for the saved result
        self.started = _time.time()

    # --- input --------------------------------------------------------------------------------

    def add_frame(self, image: np.ndarray, time: float) -> LiveUpdate:
        """One RGB frame at stream time ``time``: the faces in it and the fused label now."""
        self._last_time = max(self._last_time, time)
        faces: list[dict[str, Any]] = []
        face_ev = None
        if self.face is not None:
            self.face.observe_frame(VideoFrame(self._frame_index, float(time), image))
            self._frame_index += 1
            if self._frame_index % 50 == 0:
                self.face.forget_before(time - self.keep)
            table = self.face.timeline()
            for obs in (table[i] for i in range(len(table) - 1, -1, -1)):
                if obs.time != float(time):
                    break
                top_aus = sorted(obs.aus.items(), key=lambda kv: -kv[1])[:5]
                label = max(obs.expression, key=obs.expression.get) if obs.expression else None
                faces.append({"id": obs.face_id, "box": [round(v, 1) for v in obs.box], "label": label,
                              "probs": obs.expression, "aus": {k: round(v, 2) for k, v in top_aus}})
            face_ev = self._face_evidence(time - self.face_window, time)
        utt = self._fuse_now(time, face_ev)
        fused = _fused_dict(utt)
        self.timeline.append({"t": round(float(time), 3), "label": fused["label"]})
        if len(self.timeline) > 100_000:
            del self.timeline[: len(self.timeline) - 100_000]
        return LiveUpdate("frame", time, {"faces": faces, "fused": fused})

    def add_audio(self, samples: np.ndarray, time: float | None = None) -> None:
        """16 kHz mono samples (float in [-1, 1], or int16) starting at stream time ``time``
        (None: right after the previous chunk). Judgements run in the worker thread."""
        self._serve_face_requests()
        samples = np.asarray(samples)
        if samples.dtype == np.int16:
            samples = samples.astype(np.float32) / 32768.0
        at = None if time is None else int(round(time * SAMPLE_RATE))
        t0 = (at if at is not None else self.audio.end) / SAMPLE_RATE
        self.audio.append(samples, at)
        now = self.audio.end / SAMPLE_RATE
        self._last_time = max(self._last_time, now)
        if self.voice is not None and now >= self._next_voice:
            self._next_voice = now + self.voice_every
            self._submit(self._judge_voice, max(0.0, now - self.voice_window), now)
        for start, end in self.endpointer.feed(samples, t0):
            self._submit(self._close_utterance, start, end, True)
            self._last_closed = end
        if not self.endpointer.speaking and now - self._last_closed >= self.silence_window:
            self._submit(self._close_utterance, self._last_closed, now, False)
            self._last_closed = now

    def poll(self) -> list[LiveUpdate]:
        """Updates from the worker thread that are ready (voice, words, utterance), in order."""
        self._serve_face_requests()
        out: list[LiveUpdate] = []
        while self._futures and self._futures[0].done():
            try:
                out += self._futures.popleft().result()
            except Exception:  # one bad window must not end the stream
                log.exception("a live judgement failed")
        return out

    def drain(self) -> list[LiveUpdate]:
        """Wait for every pending judgement and return its updates."""
        out: list[LiveUpdate] = []
        while self._futures:
            try:
                out += self._futures.popleft().result()
            except Exception:
                log.exception("a live judgement failed")
        return out

    def _submit(self, fn, *args) -> None:
        if len(self._futures) > 8:  # the worker is behind: skip a rolling voice update, never an utterance
            if fn == self._judge_voice:
                return
        self._futures.append(self._worker.submit(fn, *args))

    # --- judgements ---------------------------------------------------------------------------

    def _face_evidence(self, start: float, end: float) -> Evidence:
        assert self.face is not None
        seg = Segment(0, max(0.0, start), end, "live")
        context = AnalysisContext(media=self.media, segments=[seg], audio=self.audio)
        return self.face.evidence(context)[0]

    def _judge_voice(self, start: float, end: float) -> list[LiveUpdate]:
        assert self.voice is not None
        seg = Segment(0, start, end, "live")
        context = AnalysisContext(media=self.media, segments=[seg], audio=self.audio)
        ev = self.voice.evidence(context)[0]
        with self._lock:
            self._voice = (end, ev)
        return [LiveUpdate("voice", end, {"t0": round(start, 3), "evidence": _evidence_dict(ev)})]

    def _transcribe(self, start: float, end: float) -> Segment:
        from ..segments.asr import transcribe
        from ..segments.vad import SpeechRegion

        pad = 0.2
        a = max(self.audio.start, int((start - pad) * SAMPLE_RATE))
        audio = self.audio[a:int((end + pad) * SAMPLE_RATE)]
        offset = a / SAMPLE_RATE
        region = SpeechRegion(0.0, len(audio) / SAMPLE_RATE)
        transcript = transcribe(audio, [region], language=self.language, threads=1)
        if self.language is None and transcript.language:
            self.language = transcript.language
        text = " ".join(p.text for p in transcript.pieces).strip() or None
        return Segment(len(self.history), start, end, "live", text=text, language=transcript.language,
                       words=tuple(replace(w, start=w.start + offset, end=w.end + offset)
                                   for p in transcript.pieces for w in p.words))

    def _close_utterance(self, start: float, end: float, speech: bool) -> list[LiveUpdate]:
        """Judge one closed stretch as a whole (as a file's utterance) and keep it."""
        out: list[LiveUpdate] = []
        seg = Segment(len(self.history), start, end, "live" if speech else "window")
        if speech and self.words is not None:
            seg = self._transcribe(start, end)
        context = AnalysisContext(media=self.media, segments=[seg], audio=self.audio)
        evidence: dict[str, Evidence] = {}
        if self.face is not None:
            evidence["face"] = self._face_evidence_safe(seg)
        if self.voice is not None:
            evidence["voice"] = self.voice.evidence(context)[0]
        if self.words is not None:
            evidence["words"] = (self.words.evidence(context)[0] if seg.text
                                 else Evidence.missing("words", seg.index, "no words recognised" if speech else "silence"))
            if seg.text:
                with self._lock:
                    self._words = (end, evidence["words"], seg)
                out.append(LiveUpdate("words", end, {"t0": round(start, 3), "text": seg.text,
                                                     "evidence": _evidence_dict(evidence["words"])}))
        utt = _judge(seg, evidence)
        self.history.append(utt)
        out.append(LiveUpdate("utterance", end, {"t0": round(start, 3), "text": seg.text, **_fused_dict(utt)}))
        return out

    def _face_evidence_safe(self, seg: Segment) -> Evidence:
        """Face evidence for a closed utterance, taken in the frame thread's turn (see _fuse_now)."""
        done: Future = Future()
        with self._lock:
            self._face_requests.append((seg, done))
        try:
            return done.result(timeout=5.0)
        except Exception:
            return Evidence.missing("face", seg.index, "no frames arrived for this stretch")

    def _serve_face_requests(self) -> None:
        """The face modality is not thread-safe: evidence for closed utterances is computed here,
        in the frame thread, between frames."""
        with self._lock:
            requests, self._face_requests = self._face_requests, []
        for seg, done in requests:
            try:
                context = AnalysisContext(media=self.media, segments=[seg], audio=self.audio)
                done.set_result(self.face.evidence(context)[0] if self.face is not None else None)
            except Exception as e:  # noqa: BLE001
                done.set_exception(e)

    def _fuse_now(self, time: float, face_ev: Evidence | None) -> Utterance:
        """The fused label at ``time`` from the freshest evidence of each modality."""
        if self.face is not None:
            self._serve_face_requests()
        evidence: dict[str, Evidence] = {}
        if face_ev is not None:
            evidence["face"] = face_ev
        with self._lock:
            voice, words = self._voice, self._words
        if self.voice is not None:
            fresh = voice is not None and time - voice[0] <= self.voice_fresh
            evidence["voice"] = voice[1] if fresh else Evidence.missing("voice", 0, "no recent speech")
        text = None
        if self.words is not None:
            fresh = words is not None and time - words[0] <= self.words_fresh
            evidence["words"] = words[1] if fresh else Evidence.missing("words", 0, "nothing said recently")
            text = words[2].text if fresh else None
        seg = Segment(0, max(0.0, time - self.face_window), time, "live", text=text)
        return _judge(seg, evidence)

    # --- end ----------------------------------------------------------------------------------

    def finish(self) -> list[LiveUpdate]:
        """Close the last stretch and wait for every judgement."""
        end = self._last_time
        if end - self._last_closed > 0.3:
            self._submit(self._close_utterance, self._last_closed, end, self.endpointer.speaking)
            self._last_closed = end
        out: list[LiveUpdate] = []
        deadline = _time.monotonic() + 60
        while self._futures and _time.monotonic() < deadline:
            self._serve_face_requests()  # the worker may wait for face evidence
            out += self.poll()
            _time.sleep(0.01)
        return out + self.drain()

    def result(self):
        """The session as a :class:`~affectlens.result.Result`: its closed utterances, in order."""
        from ..result import Result

        utterances = sorted(self.history, key=lambda u: u.segment.start)
        utterances = [Utterance(Segment(i, u.segment.start, u.segment.end, u.segment.source, u.segment.text,
                                        u.segment.speaker, u.segment.words, u.segment.language), u.evidence,
                                u.fused, u.explanation) for i, u in enumerate(utterances)]
        duration = max([self._last_time] + [u.segment.end for u in utterances])
        media = MediaInfo(path=f"live-{int(self.started)}", kind=MediaKind.VIDEO, duration=round(duration, 3),
                          has_audio=self.audio.end > 0, has_video=self._frame_index > 0)
        observations = self.face.timeline() if self.face is not None else []
        return Result(media=media, utterances=utterances, observations=observations, events=[],
                      warnings=[f"live session: face records of the last {self.keep:.0f} s only"]
                      if self._last_time > self.keep else [],
                      timings={"total": round(_time.time() - self.started, 3)},
                      options={"modalities": list(self.modalities), "asr": self.asr, "language": self.language,
                               "live": True})

    def close(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)
        if self.face is not None:
            self.face.close()

    def __enter__(self) -> LiveSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
