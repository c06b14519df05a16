"""The whole path, in one visible flow:

    media -> segments -> per-modality evidence -> fusion -> explanation -> Result

:class:`Pipeline` holds the options and the modality instances; calling it on a path runs the
flow once. Modalities are looked up by name in :data:`affectlens.modalities.base.MODALITIES`,
so adding one is a new folder, not an edit here.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .core.errors import INPUT_DOC, MediaError, ParameterError
from .core.types import Evidence, MediaInfo, MediaKind, Segment, Utterance
from .explain.templates import explain
from .fusion.fuse import FusionConfig, fuse
from .ingest.decode import decode, media_duration, probe
from .ingest.subtitles import load_transcript
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

    def __post_init__(self) -> None:
        if self.face_fps is not None and not (self.face_fps > 0):
            raise ParameterError(f"face_fps must be a positive number or None (every frame); got {self.face_fps!r}")
        if self.window <= 0:
            raise ParameterError(f"window must be positive; got {self.window!r}")
        unknown = [m for m in self.modalities if m not in available_modalities()]
        if unknown:
            raise ParameterError(f"unknown modalities {unknown}; available: {available_modalities()}")


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


class Pipeline:
    """Analyse media files with fixed options; reusable across files (models load once)."""

    def __init__(self, options: AnalysisOptions | None = None, **kwargs: Any) -> None:
        self.options = options or AnalysisOptions(**kwargs)

    def _modalities(self, info: MediaInfo) -> list[Modality]:
        wanted = ["words"] if info.kind is MediaKind.TEXT else list(self.options.modalities)
        instances = []
        for name in wanted:
            if name not in self.options.modalities:
                continue
            if name == "face":
                instances.append(MODALITIES[name](frame_rate=self.options.face_fps))
            else:
                instances.append(MODALITIES[name]())
        return instances

    def __call__(self, path: str | Path, *, hook: Hook | None = None) -> Result:
        """Analyse one file. Raises :class:`~affectlens.core.errors.MediaError` when it cannot be read."""
        hook = hook or _no_hook
        timings: dict[str, float] = {}
        warnings: list[str] = []
        t0 = time.perf_counter()
        info = probe(path)
        modalities = self._modalities(info)
        for m in modalities:
            m.start(info)

        # 1. media: one decoding pass streams frames to the visual modalities.
        audio: np.ndarray | None = None
        duration = info.duration
        if info.kind is not MediaKind.TEXT:
            visual = [m for m in modalities if m.frame_rate != 0]
            rates = [m.frame_rate for m in visual]
            rate = None if any(r is None for r in rates) else (max(rates) if rates else 0)

            def on_frame(frame):
                for m in visual:
                    m.observe_frame(frame)
                if frame.index % 50 == 0:
                    hook("decode", completed=frame.time, total=info.duration or None)

            hook("decode", completed=0, total=info.duration or None)
            report = decode(info, frame_rate=rate, on_frame=on_frame if visual else None,
                            max_side=self.options.max_side)
            audio = report.audio
            warnings.extend(report.warnings)
            duration = media_duration(info, report)
            if info.has_video and info.kind is MediaKind.VIDEO and report.frames_decoded == 0 and (
                audio is None or audio.size == 0
            ):
                raise MediaError(f"{path}: nothing could be decoded (corrupt or truncated file?); expected {INPUT_DOC}")
        timings["decode"] = time.perf_counter() - t0

        # 2. segments
        t = time.perf_counter()
        hook("segments")
        shared: dict[str, Any] = {}
        segments = self._segments(info, audio, duration, warnings, shared)
        timings["segments"] = time.perf_counter() - t

        # 3. evidence, one modality at a time
        context = AnalysisContext(media=info, segments=segments, audio=audio, shared=shared)
        per_modality: dict[str, list[Evidence]] = {}
        for m in modalities:
            t = time.perf_counter()
            hook(m.name)
            per_modality[m.name] = self._evidence(m, context, info)
            timings[m.name] = time.perf_counter() - t

        # 4-5. fusion and explanation per utterance
        t = time.perf_counter()
        config = FusionConfig(priors=self.options.fusion_priors) if self.options.fusion_priors else FusionConfig()
        llm = None
        if self.options.llm_url:
            from .explain.llm import LLMConfig

            llm = LLMConfig(self.options.llm_url, self.options.llm_model, self.options.llm_api_key_env)
        utterances = []
        for i, seg in enumerate(segments):
            evidence = {name: evs[i] for name, evs in per_modality.items()}
            fused = fuse(evidence, config)
            explanation = explain(seg, evidence, fused)
            if llm is not None:
                from .explain.llm import rewrite

                explanation = rewrite(seg, fused, explanation, llm)
            utterances.append(Utterance(seg, evidence, fused, explanation))
        timings["fusion"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
        hook("done")
        observations = [o for m in modalities for o in m.timeline()]
        events = [e for m in modalities for e in m.events()]
        return Result(
            media=info, utterances=utterances, observations=observations, events=events,
            warnings=warnings, timings=timings, options=asdict(self.options),
        )

    def _segments(self, info: MediaInfo, audio: np.ndarray | None, duration: float, warnings: list[str],
                  shared: dict[str, Any]) -> list[Segment]:
        """Utterances, best source first (see :mod:`affectlens.segments.utterances`).

        When speech is recognised and the voice modality runs, the encoder states of the ASR
        pass are left in ``shared["whisper_states"]`` so the voice model does not encode again.
        """
        opts = self.options
        if info.kind is MediaKind.TEXT:
            parsed = load_transcript(info.path)
            warnings.extend(parsed.warnings)
            return parsed.segments
        if info.kind is MediaKind.IMAGE:
            return [Segment(index=0, start=0.0, end=0.0, source="image")]
        if opts.subtitles:
            parsed = load_transcript(opts.subtitles)
            warnings.extend(parsed.warnings)
            segments = [s for s in parsed.segments if duration <= 0 or s.start < duration + 1.0]
            if len(segments) < len(parsed.segments):
                warnings.append(f"{len(parsed.segments) - len(segments)} subtitle cue(s) start after the media ends and were dropped")
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

                states = EncoderStates() if "voice" in opts.modalities else None
                transcript = transcribe(audio, regions, model=opts.asr_model, language=opts.language, states=states)
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
