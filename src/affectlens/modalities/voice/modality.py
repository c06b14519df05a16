"""The voice modality: what each utterance's sound says, with the prosody it rests on.

Per segment: an energy gate decides whether there is speech to judge; the whisper-base encoder's
middle layers (:mod:`.whisper_encoder`), pooled over the segment, feed a calibrated linear head
(:mod:`.head`) trained speaker-independently on RAVDESS; Praat prosody (:mod:`.prosody`) is read
against the same speaker's baseline and cited as cues.

The encoder states come from the speech-recognition pass when there was one (the pipeline
leaves them in ``context.shared["whisper_states"]``): one encoder pass serves words and voice.
With subtitles, the segments' speech is laid into the same kind of 30 s windows and encoded
here, so the head always reads states of the kind it was trained on.

Reliability (0..1), the weight fusion may give this evidence::

    reliability = scale * q_duration * q_snr * q_clipping
    q_duration  = 1 - exp(-speech_seconds / 1.5)           # 0.3 s -> 0.18, 1 s -> 0.49, 3 s -> 0.86
    q_snr       = clip((snr_db - 5) / 15, 0.1, 1)           # >= 20 dB -> 1, 10 dB -> 0.33
    q_clipping  = max(0.3, 1 - 20 * clipped_fraction)        # 1 % of samples at full scale -> 0.8

``scale`` comes from the model card (``reliability_scale``): the head was trained on acted
studio speech and transfers imperfectly to other speech, so even a long clean segment is not
given full weight. ``snr_db`` is the rough in-segment estimate of :func:`.features.snr_estimate_db`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from ...core.labels import probs_dict, to_shared_probs, valence_arousal
from ...core.types import Cue, Evidence, Segment
from ..base import AnalysisContext, Modality, register_modality
from . import prosody as prosody_mod
from .features import FRAME, SAMPLE_RATE, active_speech, clipped_fraction, normalise_level, snr_estimate_db
from .head import DEFAULT_MODEL, EmotionHead, load_head

log = logging.getLogger(__name__)

#: Less speech than this (seconds of sounding 20 ms frames) and the segment is not judged.
MIN_SPEECH_SECONDS = 0.3


def reliability(speech_seconds: float, snr_db: float, clipped: float, scale: float = 1.0) -> float:
    """The documented reliability formula (see the module docstring)."""
    q_duration = 1.0 - math.exp(-max(speech_seconds, 0.0) / 1.5)
    q_snr = min(1.0, max(0.1, (snr_db - 5.0) / 15.0))
    q_clip = max(0.3, 1.0 - 20.0 * clipped)
    return float(min(1.0, max(0.0, scale * q_duration * q_snr * q_clip)))


def _segment_audio(context: AnalysisContext, seg: Segment) -> np.ndarray:
    """The segment's samples as finite float32 (NaN/inf from a broken decoder become 0)."""
    audio = context.audio_slice(seg)
    return np.nan_to_num(np.asarray(audio, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0)


def _speech_span(context: AnalysisContext, seg: Segment) -> tuple[float, float]:
    """The segment cut to its first..last sounding 20 ms frame (what a VAD region would be)."""
    active = np.flatnonzero(active_speech(_segment_audio(context, seg)))
    if active.size == 0:
        return seg.start, seg.end
    step = FRAME / SAMPLE_RATE
    return seg.start + active[0] * step, min(seg.end, seg.start + (active[-1] + 1) * step)


@register_modality
class VoiceModality(Modality):
    """Speech emotion and prosody per utterance, from the audio track.

    Parameters
    ----------
    model : str, default="voice-emotion"
        Name or folder of the emotion head (a ``card.json`` folder, see the model registry).
    min_speech : float, default=0.3
        Seconds of sounding audio a segment needs to be judged.
    """

    name = "voice"
    frame_rate = 0.0

    def __init__(self, *, model: str = DEFAULT_MODEL, min_speech: float = MIN_SPEECH_SECONDS) -> None:
        self.model = model
        self.min_speech = min_speech
        #: Segments of the last :meth:`evidence` call judged from the ASR's encoder states.
        self.shared_passes = 0

    def check_models(self) -> None:
        """The emotion head's card and files (sha256) and the whisper-base encoder it reads."""
        from ...models.registry import external_path, get_card

        get_card(self.model)
        external_path("whisper-base")

    def load(self, *, threads: int = 1) -> None:
        """The emotion head and the whisper-base encoder it reads (both once per process)."""
        from .whisper_encoder import runtime_encoder

        self._head()
        runtime_encoder()

    # Loading is deferred to first use so that constructing the pipeline stays cheap.
    def _head(self) -> EmotionHead:
        return load_head(self.model)

    @property
    def encoder_layers(self) -> tuple[int, ...]:
        """The whisper encoder layers the head reads: all a shared encoder pass needs to keep."""
        return tuple(self._head().layers)

    def embed(self, audio: np.ndarray, head: EmotionHead) -> np.ndarray:
        """Pooled encoder features of one segment's audio, as the head expects them."""
        from .whisper_encoder import runtime_encoder

        if head.normalise_level:
            audio = normalise_level(audio)
        return runtime_encoder().pooled(audio, head.layers)

    def _window_features(self, context: AnalysisContext, positions: list[int], head: EmotionHead) -> dict[int, np.ndarray]:
        """Features of the segments at ``positions`` as a window head reads them.

        From the speech-recognition pass when it kept the segment's states (one encoder pass
        for words and voice), else by encoding the segments' speech the same way: trimmed to
        its sounding part, levelled, laid end to end in 30 s windows (subtitles gave the
        utterances, so no ASR ran).
        """
        from .whisper_encoder import EncoderStates, encode_windows

        segments = context.segments
        shared = context.shared.get("whisper_states")
        out: dict[int, np.ndarray] = {}
        for pos in positions:
            pooled = shared.pooled(segments[pos].start, segments[pos].end, head.layers) if shared is not None else None
            if pooled is not None:
                out[pos] = pooled
        self.shared_passes = len(out)
        rest = [pos for pos in positions if pos not in out]
        if rest:
            spans = [_speech_span(context, segments[pos]) for pos in rest]
            own = encode_windows(context.audio, spans, EncoderStates(layers=head.layers))
            for pos, (s, e) in zip(rest, spans, strict=True):
                pooled = own.pooled(s, e, head.layers)
                out[pos] = pooled if pooled is not None else self.embed(_segment_audio(context, segments[pos]), head)
        return out

    def evidence(self, context: AnalysisContext) -> list[Evidence]:
        segments: Sequence[Segment] = context.segments
        if context.audio is None or len(context.audio) == 0:
            return [Evidence.missing(self.name, s.index, "no audio track") for s in segments]
        if context.sample_rate != SAMPLE_RATE:
            raise ValueError(f"voice modality needs {SAMPLE_RATE} Hz audio; got {context.sample_rate}")

        # Pass 1: gate and prosody for every segment, so each speaker's baseline is known
        # before any single utterance is read against it.
        # Audio slices are not kept between the passes, so memory stays flat on long files.
        measured: dict[int, tuple[float, prosody_mod.Prosody]] = {}
        for pos, seg in enumerate(segments):
            audio = _segment_audio(context, seg)
            speech_s = float(active_speech(audio).sum()) * FRAME / SAMPLE_RATE
            if speech_s < self.min_speech:
                continue
            measured[pos] = (speech_s, prosody_mod.measure(audio, seg.words))
        baselines: dict[str | None, prosody_mod.ProsodyBaseline] = {}
        for speaker in {segments[pos].speaker for pos in measured}:
            baselines[speaker] = prosody_mod.baseline(
                [m[1] for pos, m in measured.items() if segments[pos].speaker == speaker]
            )

        head = self._head() if measured else None
        self.shared_passes = 0
        window_feats = self._window_features(context, sorted(measured), head) if head and head.window_features else {}
        out: list[Evidence] = []
        for pos, seg in enumerate(segments):
            if pos not in measured or head is None:
                out.append(Evidence.missing(self.name, seg.index, "no speech in this segment"))
                continue
            speech_s, pros = measured[pos]
            audio = _segment_audio(context, seg)
            features = window_feats[pos] if pos in window_feats else self.embed(audio, head)
            out.append(self._judge(seg, audio, features, speech_s, pros, baselines[seg.speaker], head))
        log.info("voice: judged %d of %d segments (%d from the ASR's encoder pass)", len(measured), len(segments),
                 self.shared_passes)
        return out

    def _judge(
        self,
        seg: Segment,
        audio: np.ndarray,
        features: np.ndarray,
        speech_s: float,
        pros: prosody_mod.Prosody,
        base: prosody_mod.ProsodyBaseline,
        head: EmotionHead,
    ) -> Evidence:
        native = head.predict_native(features)[0]
        shared = to_shared_probs(native, head.labels, head.label_mapping)
        snr = snr_estimate_db(audio)
        clipped = clipped_fraction(audio)
        rel = reliability(speech_s, snr, clipped, head.reliability_scale)

        order = np.argsort(native)[::-1]
        top, second = order[0], order[1]
        emotion_cue = Cue(
            modality=self.name,
            name=f"voice_emotion:{head.labels[top]}",
            value=round(float(native[top]), 4),
            description=(f"the voice sounds {head.labels[top]} ({native[top]:.2f}; next {head.labels[second]} "
                         f"{native[second]:.2f})"),
            weight=round(float(native[top]), 3),
        )
        cues: list[Cue] = [emotion_cue, *prosody_mod.relative_cues(pros, base)]
        caveats = []
        if base.source == "population":
            caveats.append("fewer than 3 utterances of this speaker: prosody compared with population norms")
        if clipped > 0.001:
            caveats.append(f"{clipped * 100:.1f} % of samples clipped")
            cues.append(Cue(self.name, "clipping", round(clipped, 5), f"distorted (clipped) recording, "
                                                                       f"{clipped * 100:.1f} % of samples", 0.0))
        if snr < 15:
            caveats.append(f"noisy audio (about {snr:.0f} dB SNR)")
        valence, _ = valence_arousal(shared)
        return Evidence(
            modality=self.name,
            segment_index=seg.index,
            available=True,
            probs=probs_dict(shared),
            reliability=rel,
            cues=tuple(cues),
            reason="; ".join(caveats) or None,
            model=head.name,
            valence=valence,
            speaker=seg.speaker,
        )

