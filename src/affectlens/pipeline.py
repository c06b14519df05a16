"""The whole path, in one visible flow:

    media -> segments -> per-modality evidence -> fusion -> explanation -> Result

:class:`Pipeline` holds the options and the modality instances; calling it on a path runs the
flow once. Modalities are looked up by name in :data:`affectlens.modalities.base.MODALITIES`,
so adding one is a new folder, not an edit here.
"""

from __future__ import annotations

import importlib
import logging
import math
import numbers
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .core.audio import Audio
from .core.errors import INPUT_DOC, MediaError, ParameterError
from .core.memory import keep_large_blocks_out_of_the_heap, release_free_memory
from .core.threads import ThreadBudget, branch_threads
from .core.types import Evidence, MediaInfo, MediaKind, Segment, Utterance
from .explain.templates import explain
from .fusion.fuse import FusionConfig, fuse
from .ingest.decode import decode, decode_ahead, media_duration, probe
from .ingest.subtitles import ParsedTranscript, load_transcript
from .modalities.base import MODALITIES, AnalysisContext, Modality
from .result import Result
from .segments import utterances as utt

log = logging.getLogger(__name__)

#: A progress callback: ``hook(step, completed=None, total=None)``; see :class:`ProgressHook`.
Hook = Callable[..., None]
DEFAULT_MODALITIES = ("face", "voice", "words")


@dataclass(frozen=True)
class AnalysisOptions:
    """Everything that changes what an analysis does.

    Parameters
    ----------
    modalities : tuple of str, default=("face", "voice", "words")
    face_fps : float or None, default=10.0
        Frames per second the face stage looks at; ``None`` = every frame (needed for
        micro-expressions).
    subtitles : str or None
        An ``.srt``/``.vtt`` file giving utterance boundaries, speakers and words.
    asr : bool, default=True
        Transcribe speech when no subtitles are given.
    asr_model : str, default="whisper-base"
        ``whisper-base`` (pip-installed, offline), a local faster-whisper folder, or a name
        faster-whisper downloads (only then is the network used).
    language : str or None
        Force the speech language (ISO code); detected when None.
    window : float, default=2.0
        Window length (s) for the timeline when nobody speaks.
    speakers : bool, default=True
        Without subtitles, estimate speaker turns from the voice (best effort, see
        :mod:`affectlens.segments.speakers`); utterances are labelled ``S1``, ``S2``...
    max_utterance : float, default=15.0
    max_side : int, default=1280
        Frames are scaled down to this longest side before face analysis.
    fusion_priors : dict, optional
        Prior weight per modality (see :mod:`affectlens.fusion.fuse`).
    llm_url, llm_model, llm_api_key_env : str, optional
        An OpenAI-compatible server that rephrases each explanation (see
        :mod:`affectlens.explain.llm`). Unset by default: nothing leaves the machine.
    llm_max_tokens : int, default=160
        Cap on each answer's generated tokens (always sent to the server).
    llm_timeout : float, default=30.0
        Deadline in seconds for one utterance's request, retries included; past it the request
        is abandoned and the template text kept.
    llm_concurrency : int, default=2
        Utterances sent to the server at the same time.
    llm_retries : int, default=1
        Extra attempts after a connection error or HTTP 429/5xx, within the deadline.
    threads : int or None
        The whole thread budget of one analysis, shared by its video and audio branches (see
        :mod:`affectlens.core.threads`). None: what this process may use (CPU affinity,
        ``OMP_NUM_THREADS``, a Ray task's CPUs).
    """

    modalities: tuple[str, ...] = DEFAULT_MODALITIES
    face_fps: float | None = 10.0
    subtitles: str | None = None
    asr: bool = True
    asr_model: str = "whisper-base"
    language: str | None = None
    window: float = 2.0
    speakers: bool = True
    max_utterance: float = 15.0
    max_side: int = 1280
    fusion_priors: dict[str, float] | None = None
    llm_url: str | None = None
    llm_model: str = "default"
    llm_api_key_env: str | None = None
    llm_max_tokens: int = 160
    llm_timeout: float = 30.0
    llm_concurrency: int = 2
    llm_retries: int = 1
    threads: int | None = None

    def __post_init__(self) -> None:
        """Refuse a bad value now, as one ParameterError, rather than as a TypeError, a hang
        (``max_utterance <= 0`` never ends the splitting of long speech) or NaN times hours into
        an analysis. Types are checked too: ``analyze(path, **options)`` passes whatever it is given."""
        if self.face_fps is not None and not (_finite(self.face_fps) and self.face_fps > 0):
            raise ParameterError(f"face_fps must be a positive number or None (every frame); got {self.face_fps!r}")
        if self.threads is not None and not _whole(self.threads):
            raise ParameterError(f"threads must be a whole number of at least 1 or None (all this process may use); "
                                 f"got {self.threads!r}")
        if not (_finite(self.window) and self.window > 0):
            raise ParameterError(f"window must be a positive number of seconds; got {self.window!r}")
        if not (_finite(self.max_utterance) and self.max_utterance > 0):
            raise ParameterError(f"max_utterance must be a positive number of seconds; got {self.max_utterance!r}")
        if self.max_side is not None and not _whole(self.max_side):
            raise ParameterError(f"max_side must be a whole number of pixels of at least 1; got {self.max_side!r}")
        # A tuple or list only: a string would be read letter by letter, a generator used up here.
        if not isinstance(self.modalities, tuple | list) or not all(isinstance(m, str) for m in self.modalities):
            raise ParameterError(f"modalities must be a tuple of names such as ('face', 'voice'); "
                                 f"got {self.modalities!r}")
        unknown = [m for m in self.modalities if m not in available_modalities()]
        if unknown:
            raise ParameterError(f"unknown modalities {unknown}; available: {available_modalities()}")
        # Whisper's codes are two or three lower-case letters; anything else fails in the speech
        # recogniser, after the media is decoded.
        if self.language is not None and not (isinstance(self.language, str) and re.fullmatch(r"[a-z]{2,3}", self.language)):
            raise ParameterError(f"language must be an ISO code such as 'en' or None (detect); got {self.language!r}")
        if self.subtitles is not None and not isinstance(self.subtitles, str | os.PathLike):
            raise ParameterError(f"subtitles must be a file path or None; got {self.subtitles!r}")
        if not isinstance(self.asr_model, str) or not self.asr_model.strip():
            raise ParameterError(f"asr_model must be a model name or folder; got {self.asr_model!r}")
        if self.fusion_priors is not None and not (
            isinstance(self.fusion_priors, Mapping)
            and all(isinstance(k, str) and _finite(v) and v >= 0 for k, v in self.fusion_priors.items())
        ):
            raise ParameterError(f"fusion_priors must map modality names to weights of 0 or more; "
                                 f"got {self.fusion_priors!r}")
        # The same rule as LLMConfig, checked here so a typo fails before the analysis, not after.
        if self.llm_url is not None and not (isinstance(self.llm_url, str)
                                             and (not self.llm_url or re.match(r"^https?://[^/\s]+", self.llm_url))):
            raise ParameterError(f"llm_url must start with http:// or https:// and name a host; got {self.llm_url!r}")
        if not isinstance(self.llm_model, str):
            raise ParameterError(f"llm_model must be a string; got {self.llm_model!r}")
        if self.llm_api_key_env is not None and not isinstance(self.llm_api_key_env, str):
            raise ParameterError(f"llm_api_key_env must be the name of an environment variable; "
                                 f"got {self.llm_api_key_env!r}")
        # The language model's bounds: an unbounded answer or wait is what they exist to prevent.
        if not _whole(self.llm_max_tokens):
            raise ParameterError(f"llm_max_tokens must be a whole number of at least 1; got {self.llm_max_tokens!r}")
        if not (_finite(self.llm_timeout) and self.llm_timeout > 0):
            raise ParameterError(f"llm_timeout must be a positive number of seconds; got {self.llm_timeout!r}")
        if not _whole(self.llm_concurrency):
            raise ParameterError(f"llm_concurrency must be a whole number of at least 1; got {self.llm_concurrency!r}")
        if not (_whole(self.llm_retries) or (type(self.llm_retries) is int and self.llm_retries == 0)):
            raise ParameterError(f"llm_retries must be a whole number of 0 or more; got {self.llm_retries!r}")


def _finite(value: object) -> bool:
    """A real number that is not a bool, NaN, infinite, or an int past float range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _whole(value: object) -> bool:
    """A whole number of at least 1 (a bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def available_modalities() -> list[str]:
    """Names of the modalities whose folders import on this installation."""
    for name in DEFAULT_MODALITIES:
        if name not in MODALITIES:
            try:
                importlib.import_module(f"affectlens.modalities.{name}")
            except ImportError as e:  # a missing optional dependency disables one modality
                log.warning("modality %s is unavailable: %s", name, e)
    return sorted(MODALITIES)


def _no_hook(step: str, completed: float | None = None, total: float | None = None) -> None:
    return None


@dataclass
class _AudioBranch:
    """What the audio branch hands back: the track, the utterances and the audio modalities' evidence."""

    audio: Audio | None
    segments: list[Segment]
    shared: dict[str, Any]
    evidence: dict[str, list[Evidence]]
    warnings: list[str]
    timings: dict[str, float]


class Pipeline:
    """Analyse media files with fixed options; reusable across files.

    One ``Pipeline`` holds one instance of each modality, created on first use and reset for
    every file, so models and MediaPipe graphs are opened once per pipeline (and the models
    themselves once per process): a server, a batch or a Ray actor keeps one pipeline and
    analyses thousands of files in flat memory. Call :meth:`close` (or use it as a context
    manager) to free the graphs early.

    A video with sound is analysed in two branches at the same time, each with its share of
    the thread budget (:class:`~affectlens.core.threads.ThreadBudget`): the video branch
    (frames -> face) in the calling thread and the audio branch (audio -> voice activity ->
    speech recognition -> voice -> words) in a second one. Face evidence is judged once both
    are done, because it needs the utterances and the audio (who is speaking).
    """

    def __init__(self, options: AnalysisOptions | None = None, **kwargs: Any) -> None:
        self.options = options or AnalysisOptions(**kwargs)
        self.budget = ThreadBudget.resolve(self.options.threads)
        self._instances: dict[str, Modality] = {}
        # One long-lived thread for the audio branch: a new thread per file would also bring a
        # new malloc arena now and then, and memory would creep up over thousands of files.
        self._audio_worker: ThreadPoolExecutor | None = None
        self._decode_worker: ThreadPoolExecutor | None = None  # decodes frames ahead of the face stage
        keep_large_blocks_out_of_the_heap()  # before the models load: see core/memory.py
        self._checked: set[tuple] = set()  # model checks already passed (see _check_models)

    def modality(self, name: str) -> Modality:
        """The pipeline's instance of modality ``name`` (created on first use, then reused)."""
        if name not in self._instances:
            if name == "face":
                self._instances[name] = MODALITIES[name](frame_rate=self.options.face_fps)
            else:
                self._instances[name] = MODALITIES[name]()
        return self._instances[name]

    def load(self, *, speech_recognition: bool = True) -> Pipeline:
        """Load every model these options can use now, rather than during the first file.

        A long-lived worker (a Ray actor, a corpus run's local worker) calls it when it starts:
        "ready" then means loaded, its first file no longer pays for the loading (about 0.8 s
        on one thread; the first inferences, about 1 s more, still fall in it), and a model
        that cannot load stops the worker before a file is given to it. Models are sized for
        the thread shares of a video with sound, the common case; another kind of file resizes
        what depends on them, as it would without this call.

        ``speech_recognition=False`` leaves the recogniser (about 120 MB resident) to load
        when a file first needs it: for a corpus whose every file has its own subtitles.
        Returns the pipeline, so that ``Pipeline(options).load()`` reads as one step.
        """
        modalities = [self.modality(name) for name in self.options.modalities]
        for m in modalities:
            m.check_models()
        share = self.budget.share(2)
        for m in modalities:
            m.load(threads=share)
        if not self.options.subtitles:
            from .segments.vad import load_vad

            load_vad()
            if self.options.asr and speech_recognition:
                from .segments.asr import check_model

                check_model(self.options.asr_model)
                with branch_threads(share):
                    self._load_speech_models(share)
        return self

    def _modalities(self, info: MediaInfo) -> list[Modality]:
        wanted = ["words"] if info.kind is MediaKind.TEXT else list(self.options.modalities)
        return [self.modality(name) for name in wanted if name in self.options.modalities]

    def close(self) -> None:
        """Free what the modalities hold open (MediaPipe graphs); the pipeline stays usable."""
        for m in self._instances.values():
            m.close()
        self._instances.clear()
        for worker in (self._audio_worker, self._decode_worker):
            if worker is not None:
                worker.shutdown(wait=True)
        self._audio_worker = self._decode_worker = None

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(self, path: str | Path, *, hook: Hook | None = None) -> Result:
        """Analyse one file. Raises :class:`~affectlens.core.errors.MediaError` when it cannot be read."""
        hook = hook or _no_hook
        t0, cpu0 = time.perf_counter(), time.process_time()
        info = probe(path)
        # Everything that can be refused is refused before any decoding (a broken subtitle file
        # must not cost the user a whole video's analysis first).
        given = self._given_segments(info)
        modalities = self._modalities(info)
        self._check_models(modalities, info, given)
        visual = [m for m in modalities if m.frame_rate != 0 and info.has_video and info.kind is not MediaKind.TEXT]
        heard = [m for m in modalities if m not in visual]
        with_audio = info.kind in (MediaKind.VIDEO, MediaKind.AUDIO) and info.has_audio
        both = bool(visual) and with_audio and self.budget.concurrent
        share = self.budget.share(2 if both else 1)
        for m in modalities:
            m.start(info, threads=share)

        timings: dict[str, float] = {"probe": time.perf_counter() - t0}
        frames_decoded = 0
        video_warnings: list[str] = []
        if both:
            if self._audio_worker is None:
                self._audio_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="affectlens-audio")

            def audio_then_widen() -> _AudioBranch:
                try:
                    return self._audio_branch(info, given, heard, share, hook, False)
                finally:  # its threads are free now: the video branch may use the whole budget
                    for m in visual:
                        m.set_threads(self.budget.total)

            audio_future = self._audio_worker.submit(audio_then_widen)
            try:
                frames_decoded, video_warnings = self._video_branch(info, visual, share, hook, timings)
            finally:
                branch = audio_future.result()  # waits for the audio branch even when video failed
        else:
            if visual:
                frames_decoded, video_warnings = self._video_branch(info, visual, share, hook, timings)
            branch = self._audio_branch(info, given, heard, share, hook, not visual)
        timings.update(branch.timings)
        if info.has_video and info.kind is MediaKind.VIDEO and visual and frames_decoded == 0 and (
            branch.audio is None or branch.audio.size == 0
        ):
            raise MediaError(f"{path}: nothing could be decoded (corrupt or truncated file?); expected {INPUT_DOC}")
        warnings = list(dict.fromkeys(video_warnings + branch.warnings))  # one decode problem, said once
        if not branch.segments:
            warnings.append("nothing to analyse: no utterance, frame or sample could be taken from this file")

        # 3. the visual modalities judge the utterances once both branches are done.
        context = AnalysisContext(media=info, segments=branch.segments, audio=branch.audio, shared=branch.shared,
                                  threads=self.budget.total)
        per_modality = dict(branch.evidence)
        for m in visual:
            t = time.perf_counter()
            hook(m.name)
            per_modality[m.name] = self._evidence(m, context, info)
            timings[m.name] = time.perf_counter() - t
        per_modality = {m.name: per_modality[m.name] for m in modalities}  # the user's modality order

        # 4-5. fusion and explanation per utterance
        t = time.perf_counter()
        utterances = self._fuse_and_explain(branch.segments, per_modality)
        timings["fusion"] = time.perf_counter() - t
        if self.options.llm_url:
            t = time.perf_counter()
            hook("llm")
            utterances = self._rewrite(utterances, warnings)
            timings["llm"] = time.perf_counter() - t
        hook("done")
        del context, branch  # the audio and the encoder states go before the per-frame tables are built
        timelines = [t for m in modalities if len(t := m.timeline())]
        # One modality's table as it is (compact); rows of several are concatenated.
        observations = timelines[0] if len(timelines) == 1 else [o for t in timelines for o in t]
        events = [e for m in modalities for e in m.events()]
        release_free_memory()  # a long-lived pipeline gives each file's temporaries back
        timings["total"] = time.perf_counter() - t0
        timings["cpu_total"] = time.process_time() - cpu0
        return Result(
            media=info, utterances=utterances, observations=observations, events=events,
            warnings=warnings, timings=timings, options=asdict(self.options),
        )

    def _check_models(self, modalities: list[Modality], info: MediaInfo, given: ParsedTranscript | None) -> None:
        """Every model this file needs, checked once per Pipeline before anything is decoded."""
        needs_asr = self._needs_asr(info, given)
        key = (tuple(m.name for m in modalities), needs_asr)
        if key in self._checked:
            return
        for m in modalities:
            m.check_models()
        if needs_asr:
            from .segments.asr import check_model

            check_model(self.options.asr_model)
        self._checked.add(key)

    # -- the two branches ------------------------------------------------------------------

    def _video_branch(self, info: MediaInfo, visual: list[Modality], threads: int, hook: Hook,
                      timings: dict[str, float]) -> tuple[int, list[str]]:
        """Decode the frames the visual modalities want and stream them in; returns the number
        of frames decoded and the decoding warnings."""
        t, cpu = time.perf_counter(), time.thread_time()
        rates = [m.frame_rate for m in visual]
        rate = None if any(r is None for r in rates) else max(rates)

        def on_frame(frame):
            for m in visual:
                m.observe_frame(frame)
            if frame.index % 50 == 0:
                hook("decode", completed=frame.time, total=info.duration or None)

        hook("decode", completed=0, total=info.duration or None)
        if self.budget.total == 1:
            # A budget of one thread is one core: decoding ahead in a second thread would take
            # part of another core, which a Ray worker with num_cpus=1 has not been given.
            report = decode(info, frame_rate=rate, on_frame=on_frame, want_audio=False,
                            max_side=self.options.max_side, threads=threads)
        else:
            if self._decode_worker is None:
                self._decode_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="affectlens-decode")
            report = decode_ahead(info, frame_rate=rate, on_frame=on_frame, want_audio=False,
                                  max_side=self.options.max_side, threads=threads, executor=self._decode_worker)
        timings["video_branch"] = time.perf_counter() - t
        timings["video_branch_cpu"] = time.thread_time() - cpu
        return report.frames_decoded, report.warnings

    def _audio_branch(self, info: MediaInfo, given: ParsedTranscript | None, heard: list[Modality], threads: int,
                      hook: Hook, report_progress: bool) -> _AudioBranch:
        """Audio -> utterances -> the evidence of the modalities that need no frames.

        Runs in its own thread beside :meth:`_video_branch` when the budget allows, with numpy's
        BLAS pool kept to this branch's share.
        """
        t0, cpu = time.perf_counter(), time.thread_time()
        timings: dict[str, float] = {}
        warnings: list[str] = []
        audio: Audio | None = None
        duration = info.duration
        if info.kind in (MediaKind.VIDEO, MediaKind.AUDIO):
            if report_progress:
                hook("decode", completed=0, total=info.duration or None)
            if self._needs_asr(info, given):
                with branch_threads(threads):  # the models size their pools from the branch's share
                    self._load_speech_models(threads)
            report = decode(info, frame_rate=0, want_audio=True, max_side=self.options.max_side)
            audio = report.audio
            warnings.extend(report.warnings)
            if info.has_audio and (audio is None or audio.size == 0):
                warnings.append("the audio track holds no samples")
            duration = media_duration(info, report)
            timings["audio_decode"] = time.perf_counter() - t0
        with branch_threads(threads):
            t = time.perf_counter()
            if report_progress:
                hook("segments")
            shared: dict[str, Any] = {}
            segments = self._segments(info, given, audio, duration, warnings, shared, threads)
            timings["segments"] = time.perf_counter() - t
            context = AnalysisContext(media=info, segments=segments, audio=audio, shared=shared, threads=threads)
            evidence: dict[str, list[Evidence]] = {}
            for m in heard:
                t = time.perf_counter()
                if report_progress:
                    hook(m.name)
                evidence[m.name] = self._evidence(m, context, info)
                timings[m.name] = time.perf_counter() - t
        timings["audio_branch"] = time.perf_counter() - t0
        timings["audio_branch_cpu"] = time.thread_time() - cpu
        return _AudioBranch(audio, segments, shared, evidence, warnings, timings)

    def _load_speech_models(self, threads: int) -> None:
        """Load the recogniser and the shared encoder (once per process) before the audio is
        decoded. Loading briefly needs about twice a model's size; done lazily, after decoding,
        that transient came on top of the whole track and was the peak of a long analysis."""
        from .segments.asr import load_whisper

        whisper = load_whisper(self.options.asr_model, threads=threads)
        if "voice" in self.options.modalities and whisper.can_share:
            from .modalities.voice.whisper_encoder import runtime_encoder

            runtime_encoder()

    def _needs_asr(self, info: MediaInfo, given: ParsedTranscript | None) -> bool:
        """Whether this file's utterances come from speech recognition."""
        return (self.options.asr and given is None and info.has_audio
                and info.kind in (MediaKind.VIDEO, MediaKind.AUDIO))

    def _given_segments(self, info: MediaInfo) -> ParsedTranscript | None:
        """Utterances the user supplied (a transcript file, or subtitles), parsed before decoding."""
        if info.kind is MediaKind.TEXT:
            return load_transcript(info.path)
        if self.options.subtitles and info.kind is not MediaKind.IMAGE:
            return load_transcript(self.options.subtitles)
        return None

    def _fuse_and_explain(self, segments: Sequence[Segment], per_modality: dict[str, list[Evidence]]) -> list[Utterance]:
        config = FusionConfig(priors=self.options.fusion_priors) if self.options.fusion_priors else FusionConfig()
        utterances = []
        for i, seg in enumerate(segments):
            evidence = {name: evs[i] for name, evs in per_modality.items()}
            fused = fuse(evidence, config)
            utterances.append(Utterance(seg, evidence, fused, explain(seg, evidence, fused)))
        return utterances

    def _rewrite(self, utterances: list[Utterance], warnings: list[str]) -> list[Utterance]:
        """The explanations rephrased by the configured language model, all utterances at once so
        that ``llm_concurrency`` requests can be in flight (see :mod:`affectlens.explain.llm`)."""
        from .explain.llm import LLMConfig, rewrite_all

        o = self.options
        config = LLMConfig(url=o.llm_url or "", model=o.llm_model, api_key_env=o.llm_api_key_env,
                           timeout=float(o.llm_timeout), max_tokens=o.llm_max_tokens,
                           concurrency=o.llm_concurrency, retries=o.llm_retries)
        explanations, report = rewrite_all(utterances, config)
        if (warning := report.warning()) is not None:
            warnings.append(warning)
        return [replace(u, explanation=e) for u, e in zip(utterances, explanations, strict=True)]

    def _segments(self, info: MediaInfo, given: ParsedTranscript | None, audio: Audio | None, duration: float,
                  warnings: list[str], shared: dict[str, Any], threads: int = 1) -> list[Segment]:
        """Utterances, best source first (see :mod:`affectlens.segments.utterances`).

        When speech is recognised and the voice modality runs, the encoder states of the ASR
        pass are left in ``shared["whisper_states"]`` so the voice model does not encode again.
        """
        opts = self.options
        if given is not None:
            warnings.extend(given.warnings)
        if info.kind is MediaKind.TEXT:
            return given.segments if given is not None else []
        if info.kind is MediaKind.IMAGE:
            return [Segment(index=0, start=0.0, end=0.0, source="image")]
        if given is not None:
            segments = [s for s in given.segments if duration <= 0 or s.start < duration + 1.0]
            if len(segments) < len(given.segments):
                warnings.append(f"{len(given.segments) - len(segments)} subtitle cue(s) start after the media ends "
                                "and were dropped")
            if segments:
                return utt.reindex(segments)
            warnings.append("no subtitle cue falls inside the media; using the audio instead")
        if audio is not None and audio.size > 0:
            from .segments.vad import speech_regions

            regions = speech_regions(audio, max_region=opts.max_utterance)
            transcript = None
            if regions and opts.asr:
                from .modalities.voice.whisper_encoder import EncoderStates
                from .segments.asr import transcribe

                states = None
                if "voice" in opts.modalities:  # keep only the layers the voice head reads (half of all eight)
                    states = EncoderStates(layers=getattr(self.modality("voice"), "encoder_layers", None))
                transcript = transcribe(audio, regions, model=opts.asr_model, language=opts.language, states=states,
                                        threads=threads)
                if states is not None and states.windows:
                    shared["whisper_states"] = states
            segments = utt.from_speech(regions, transcript, max_length=opts.max_utterance)
            if segments and opts.speakers:
                from .segments.speakers import WARNING, estimate_speakers

                segments = estimate_speakers(audio, segments)
                if any(s.speaker for s in segments):
                    warnings.append(WARNING)
            if segments:
                return segments
        return utt.fixed_windows(duration, opts.window)

    @staticmethod
    def _evidence(modality: Modality, context: AnalysisContext, info: MediaInfo) -> list[Evidence]:
        name = modality.name
        segs = context.segments
        if name == "voice" and (context.audio is None or context.audio.size == 0):
            reason = "no audio track" if not info.has_audio else "the audio track is empty"
            return [Evidence.missing(name, s.index, reason) for s in segs]
        if name == "face" and not info.has_video:
            return [Evidence.missing(name, s.index, "no video track") for s in segs]
        evidence = modality.evidence(context)
        if len(evidence) != len(segs):
            raise RuntimeError(f"modality {name} returned {len(evidence)} evidence for {len(segs)} segments")
        return evidence


def analyze(path: str | Path, *, hook: Hook | None = None, **options: Any) -> Result:
    """Analyse a video, audio file, image or transcript and explain what each person feels.

    Parameters
    ----------
    path : str or Path
        A video, audio file, image, or transcript (.srt, .vtt, .csv with an 'utterance' column).
    hook : callable, optional
        Progress callback ``hook(step, completed=None, total=None)``.
    **options
        Any field of :class:`AnalysisOptions` (``subtitles=``, ``face_fps=``, ``asr=``...).

    Returns
    -------
    Result
        ``.utterances`` (typed), ``.to_pandas()``, ``.frames()``, ``.to_json()``.

    Examples
    --------
    >>> result = analyze("clip.mp4", subtitles="clip.srt")  # doctest: +SKIP
    >>> result.to_pandas()[["start", "end", "label", "confidence"]]  # doctest: +SKIP
    """
    return Pipeline(AnalysisOptions(**options))(path, hook=hook)


def analyze_text(
    utterances: Sequence[str] | Any,
    *,
    speakers: Sequence[str | None] | None = None,
    dialogues: Sequence[str | None] | None = None,
) -> Result:
    """Run the words stage alone on a list of strings or a DataFrame with an ``utterance``
    column (optional ``speaker`` and ``dialogue``), in conversation order."""
    from .core.errors import SubtitleError

    if hasattr(utterances, "columns"):
        frame = utterances
        cols = {c.lower(): c for c in frame.columns}
        if "utterance" not in cols:
            raise SubtitleError(f"the DataFrame has no 'utterance' column (columns: {list(frame.columns)})")
        texts = [str(t) if t is not None else "" for t in frame[cols["utterance"]].tolist()]
        speakers = frame[cols["speaker"]].tolist() if "speaker" in cols else None
        dialogues = frame[cols["dialogue"]].astype(str).tolist() if "dialogue" in cols else None
    else:
        texts = [str(t) for t in utterances]
    segments = [
        Segment(
            index=i, start=0.0, end=0.0, source="text", text=t.strip() or None,
            speaker=speakers[i] if speakers is not None else None,
            dialogue=dialogues[i] if dialogues is not None else None,
        )
        for i, t in enumerate(texts)
    ]
    info = MediaInfo(path="<text>", kind=MediaKind.TEXT, duration=0.0, has_audio=False, has_video=False)
    if "words" not in available_modalities():
        raise ParameterError("the words modality is not available on this installation")
    words = MODALITIES["words"]()
    t = time.perf_counter()
    evidence = words.evidence(AnalysisContext(media=info, segments=segments))
    result_utts = []
    for seg, ev in zip(segments, evidence, strict=True):
        fused = fuse({"words": ev})
        result_utts.append(Utterance(seg, {"words": ev}, fused, explain(seg, {"words": ev}, fused)))
    return Result(media=info, utterances=result_utts, timings={"words": time.perf_counter() - t},
                  options={"modalities": ["words"]})


@dataclass
class ProgressHook:
    """A tqdm progress display for :func:`analyze` (used by the CLI)."""

    description: str = ""
    _bar: Any = field(default=None, init=False)

    def __call__(self, step: str, completed: float | None = None, total: float | None = None) -> None:
        from tqdm import tqdm

        if step == "decode" and total:
            if self._bar is None:
                self._bar = tqdm(total=round(total, 1), unit="s", desc=f"{self.description} decode", leave=False)
            self._bar.n = round(min(completed or 0, total), 1)
            self._bar.refresh()
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if step != "done":
            tqdm.write(f"{self.description} {step}...")
