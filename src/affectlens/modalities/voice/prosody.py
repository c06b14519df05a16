"""Prosody per utterance (Praat, via parselmouth) and its reading against the speaker's own baseline.

Why relative: absolute pitch mostly tells who is speaking (a low male voice, a high child's
voice), and absolute loudness mostly tells where the microphone is. What signals emotion is a
change from the same person's usual: higher and wider pitch, louder, faster, breathier. So each
utterance is compared with the median of that speaker's utterances in the same file; with fewer
than :data:`MIN_BASELINE_UTTERANCES` utterances there is no usable baseline and sex-neutral
population norms are used instead (and the cue descriptions say so).

Measures (all NaN when there is not enough voiced speech to measure them):

* pitch median (Hz) and range (10th-90th percentile of voiced frames, semitones);
* loudness: mean Praat intensity (dB) over sounding frames;
* speech rate: words/second when the segment has word timestamps, otherwise syllable nuclei per
  second of speaking time (intensity peaks that are voiced and stand 2 dB above their dip,
  after de Jong & Wempe 2009);
* pause ratio: silent share of the stretch between the first and last sounding frame;
* jitter (local, %), shimmer (local, %), harmonics-to-noise ratio (dB).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from ...core.types import Cue, Word

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
PITCH_FLOOR = 75.0
PITCH_CEILING = 600.0
#: Hop of the harmonics-to-noise analysis. Praat's 10 ms made HNR 80 % of the cost of
#: :func:`measure` (64 of 79 ms per 3 s utterance); at 20 ms it costs 40 ms and the utterance
#: mean moves 0.25 dB on average (max 0.66 dB; correlation 0.99 over 40 RAVDESS files, whose
#: HNR spreads 2.3 dB between files): the cue reads the same.
HNR_TIME_STEP = 0.02
#: Below this many utterances of a speaker, population norms replace the speaker's median.
MIN_BASELINE_UTTERANCES = 3
#: Praat's convention: frames more than 25 dB below the loudest are silence.
SILENCE_DB = 25.0


@dataclass(frozen=True)
class Prosody:
    """Prosodic measures of one utterance (NaN = not measurable)."""

    duration: float  # seconds of audio looked at
    voiced_fraction: float
    pitch_median_hz: float
    pitch_range_st: float  # 10th-90th percentile span, semitones
    intensity_db: float
    speech_rate: float  # syllables or words per second, see rate_unit
    rate_unit: str  # "syllables/s" or "words/s"
    pause_ratio: float
    jitter_pct: float
    shimmer_pct: float
    hnr_db: float


@dataclass(frozen=True)
class ProsodyBaseline:
    """What counts as "usual" for one speaker: medians of their utterances, or population norms."""

    pitch_median_hz: float
    pitch_range_st: float
    intensity_db: float
    speech_rate: float
    pause_ratio: float
    jitter_pct: float
    shimmer_pct: float
    hnr_db: float
    source: str  # "speaker" or "population"
    n_utterances: int = 0


#: Sex-neutral adult norms, used when a speaker has too few utterances. Measured with
#: :func:`measure` itself (so the method's own biases cancel) on RAVDESS's 288 neutral and calm
#: clips, 12 male and 12 female actors: medians pitch 164 Hz (male 114, female 201; 160 used),
#: range 6.2 st, 4.8 syllables/s, jitter 2.1 %, shimmer 10.4 %, HNR 11.6 dB. Pause ratio is
#: 0.02 there (single read sentences), so 0.1 is used for conversational speech.
#: Intensity has no population norm (it depends on the recording), so it stays NaN.
POPULATION_NORMS = ProsodyBaseline(
    pitch_median_hz=160.0, pitch_range_st=6.2, intensity_db=float("nan"), speech_rate=4.8,
    pause_ratio=0.1, jitter_pct=2.1, shimmer_pct=10.4, hnr_db=11.6, source="population",
)
WORDS_PER_SECOND_NORM = 2.5


def _nan_prosody(duration: float) -> Prosody:
    nan = float("nan")
    return Prosody(duration, 0.0, nan, nan, nan, nan, "syllables/s", nan, nan, nan, nan)


def _syllable_nuclei(intensity_db: np.ndarray, times: np.ndarray, voiced_at: np.ndarray, threshold: float) -> int:
    """Count intensity peaks above ``threshold`` that are voiced and rise >= 2 dB over the preceding dip."""
    count = 0
    last_dip = math.inf
    for i in range(1, len(intensity_db) - 1):
        v = intensity_db[i]
        last_dip = min(last_dip, v)
        if v >= intensity_db[i - 1] and v > intensity_db[i + 1] and v > threshold:
            if v - last_dip >= 2.0 and voiced_at[i]:
                count += 1
                last_dip = v
    return count


def measure(audio: np.ndarray, words: Sequence[Word] = (), sample_rate: int = SAMPLE_RATE) -> Prosody:
    """Prosodic measures of one utterance's audio.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
        float32 mono at ``sample_rate``.
    words : sequence of Word, optional
        With start/end times, speech rate becomes words per second of their span.

    Returns
    -------
    Prosody
        Fields that cannot be measured (too little voicing, silence) are NaN.
    """
    import parselmouth
    from parselmouth.praat import call

    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    duration = len(audio) / sample_rate
    if duration < 0.1 or not np.any(audio):
        return _nan_prosody(duration)
    snd = parselmouth.Sound(audio, sampling_frequency=sample_rate)

    pitch = snd.to_pitch(time_step=0.01, pitch_floor=PITCH_FLOOR, pitch_ceiling=PITCH_CEILING)
    f0 = pitch.selected_array["frequency"]
    voiced = f0[f0 > 0]
    voiced_fraction = float(len(voiced) / max(len(f0), 1))
    if len(voiced) >= 3:
        pitch_median = float(np.median(voiced))
        p10, p90 = np.percentile(voiced, [10, 90])
        pitch_range = float(12 * np.log2(p90 / p10))
    else:
        pitch_median = pitch_range = float("nan")

    try:
        intensity = snd.to_intensity(minimum_pitch=PITCH_FLOOR)
        level = intensity.values[0]
        itimes = intensity.xs()
    except parselmouth.PraatError:  # too short for the intensity window
        return _nan_prosody(duration)
    if len(level) < 3:
        return _nan_prosody(duration)
    silence_at = level.max() - SILENCE_DB
    sounding = level > silence_at
    intensity_db = float(np.mean(level[sounding])) if sounding.any() else float("nan")
    idx = np.flatnonzero(sounding)
    if len(idx) >= 2:
        span = sounding[idx[0] : idx[-1] + 1]
        pause_ratio = float(1.0 - span.mean())
        speaking_time = float(span.sum() * (itimes[1] - itimes[0]))
    else:
        pause_ratio, speaking_time = float("nan"), 0.0

    timed = [w for w in words if w.start is not None and w.end is not None]
    if len(timed) >= 2 and (timed[-1].end - timed[0].start) > 0.3:
        rate, unit = len(timed) / (timed[-1].end - timed[0].start), "words/s"
    else:
        ptimes = pitch.xs()
        voiced_at = np.interp(itimes, ptimes, (f0 > 0).astype(float), left=0, right=0) > 0.5
        threshold = max(silence_at, float(np.median(level)))
        nuclei = _syllable_nuclei(level, itimes, voiced_at, threshold)
        rate = nuclei / speaking_time if speaking_time > 0.2 else float("nan")
        unit = "syllables/s"

    jitter = shimmer = hnr = float("nan")
    if len(voiced) >= 10:
        try:
            points = call(snd, "To PointProcess (periodic, cc)", PITCH_FLOOR, PITCH_CEILING)
            jitter = 100 * float(call(points, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3))
            shimmer = 100 * float(call([snd, points], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6))
            harm = snd.to_harmonicity_cc(time_step=HNR_TIME_STEP, minimum_pitch=PITCH_FLOOR).values[0]
            harm = harm[harm > -200]  # Praat marks unvoiced frames -200
            hnr = float(np.mean(harm)) if len(harm) else float("nan")
        except parselmouth.PraatError as e:
            log.debug("voice-quality measures failed: %s", e)
    return Prosody(
        duration=duration, voiced_fraction=voiced_fraction, pitch_median_hz=pitch_median,
        pitch_range_st=pitch_range, intensity_db=intensity_db, speech_rate=float(rate), rate_unit=unit,
        pause_ratio=pause_ratio, jitter_pct=jitter, shimmer_pct=shimmer, hnr_db=hnr,
    )


_BASELINE_FIELDS = tuple(f.name for f in fields(ProsodyBaseline) if f.name not in ("source", "n_utterances"))


def baseline(utterances: Sequence[Prosody]) -> ProsodyBaseline:
    """The speaker's usual: per-measure median over their utterances, or :data:`POPULATION_NORMS`.

    Falls back to population norms when fewer than :data:`MIN_BASELINE_UTTERANCES` utterances
    have voiced speech, because a median of one or two utterances would call every utterance
    "usual" and hide exactly the changes that matter. Speech rates measured in different units
    (words vs syllables) are not mixed: the rate baseline uses the most common unit.
    """
    voiced = [u for u in utterances if not math.isnan(u.pitch_median_hz)]
    if len(voiced) < MIN_BASELINE_UTTERANCES:
        return POPULATION_NORMS
    units = [u.rate_unit for u in voiced]
    unit = max(set(units), key=units.count)
    values: dict[str, float] = {}
    for name in _BASELINE_FIELDS:
        pool = voiced if name != "speech_rate" else [u for u in voiced if u.rate_unit == unit]
        arr = np.array([getattr(u, name) for u in pool], dtype=float)
        arr = arr[~np.isnan(arr)]
        values[name] = float(np.median(arr)) if len(arr) else getattr(POPULATION_NORMS, name)
    return ProsodyBaseline(**values, source="speaker", n_utterances=len(voiced))


def _clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def relative_cues(p: Prosody, base: ProsodyBaseline) -> tuple[Cue, ...]:
    """Prosody of one utterance against the baseline, as cues an explanation can quote.

    Every measurable quantity yields one cue; ``weight`` (0..1) says how far it is from usual
    (1 = a large change: 30 % pitch, 6 dB, 40 % rate, 0.3 pause share, 5 dB HNR), so the
    explanation can cite the strong ones and skip the ordinary ones.
    """
    usual = "this speaker's usual" if base.source == "speaker" else "typical voices"
    cues: list[Cue] = []

    def add(name: str, value: float, text: str, weight: float) -> None:
        cues.append(Cue(modality="voice", name=name, value=round(float(value), 4), description=text,
                        weight=round(_clip01(weight), 3)))

    if not math.isnan(p.pitch_median_hz) and base.pitch_median_hz > 0:
        rel = p.pitch_median_hz / base.pitch_median_hz - 1
        if abs(rel) < 0.05:
            text = f"pitch close to {usual} ({p.pitch_median_hz:.0f} Hz)"
        else:
            text = f"pitch {abs(rel) * 100:.0f} % {'above' if rel > 0 else 'below'} {usual} ({p.pitch_median_hz:.0f} Hz)"
        add("pitch_rel", rel, text, abs(rel) / 0.3)
    if not math.isnan(p.pitch_range_st) and not math.isnan(base.pitch_range_st):
        d = p.pitch_range_st - base.pitch_range_st
        kind = "livelier, wider" if d > 0 else "flatter, narrower"
        text = (f"{kind} intonation than {usual} ({p.pitch_range_st:.1f} vs {base.pitch_range_st:.1f} semitones)"
                if abs(d) >= 1 else f"intonation range as {usual} ({p.pitch_range_st:.1f} semitones)")
        add("pitch_range_rel", d, text, abs(d) / 5)
    if not math.isnan(p.intensity_db) and not math.isnan(base.intensity_db):
        d = p.intensity_db - base.intensity_db
        text = (f"{'louder' if d > 0 else 'quieter'} than {usual} ({d:+.1f} dB)" if abs(d) >= 2
                else f"loudness as {usual} ({d:+.1f} dB)")
        add("loudness_rel", d, text, abs(d) / 6)
    if not math.isnan(p.speech_rate):
        ref = base.speech_rate
        if base.source == "population" and p.rate_unit == "words/s":
            ref = WORDS_PER_SECOND_NORM
        if ref > 0:
            rel = p.speech_rate / ref - 1
            pace = "fast" if rel > 0 else "slow"
            text = (f"{pace} speech, {p.speech_rate:.1f} {p.rate_unit} ({abs(rel) * 100:.0f} % "
                    f"{'above' if rel > 0 else 'below'} {usual})" if abs(rel) >= 0.15
                    else f"speaking rate as {usual} ({p.speech_rate:.1f} {p.rate_unit})")
            add("rate_rel", rel, text, abs(rel) / 0.4)
    if not math.isnan(p.pause_ratio) and not math.isnan(base.pause_ratio):
        d = p.pause_ratio - base.pause_ratio
        text = (f"{'more' if d > 0 else 'fewer'} pauses than {usual} ({p.pause_ratio * 100:.0f} % of the time silent)"
                if abs(d) >= 0.1 else f"pausing as {usual} ({p.pause_ratio * 100:.0f} % silent)")
        add("pause_rel", d, text, abs(d) / 0.3)
    if not math.isnan(p.hnr_db) and not math.isnan(base.hnr_db):
        d = p.hnr_db - base.hnr_db
        if d <= -2.5:
            text = f"breathy or rough voice (harmonics-to-noise {p.hnr_db:.1f} dB, {-d:.1f} dB below {usual})"
        elif d >= 2.5:
            text = f"tense, pressed or clear voice (harmonics-to-noise {p.hnr_db:.1f} dB, {d:.1f} dB above {usual})"
        else:
            text = f"voice quality as {usual} (harmonics-to-noise {p.hnr_db:.1f} dB)"
        add("hnr_rel", d, text, abs(d) / 5)
    if not math.isnan(p.jitter_pct) and not math.isnan(base.jitter_pct) and base.jitter_pct > 0:
        rel = p.jitter_pct / base.jitter_pct - 1
        text = (f"{'shakier' if rel > 0 else 'steadier'} pitch cycle to cycle than {usual} "
                f"(jitter {p.jitter_pct:.2f} %)" if abs(rel) >= 0.25 else f"jitter as {usual} ({p.jitter_pct:.2f} %)")
        add("jitter_rel", rel, text, abs(rel) / 0.8)
    if not math.isnan(p.shimmer_pct) and not math.isnan(base.shimmer_pct) and base.shimmer_pct > 0:
        rel = p.shimmer_pct / base.shimmer_pct - 1
        text = (f"{'more' if rel > 0 else 'less'} loudness wobble cycle to cycle than {usual} "
                f"(shimmer {p.shimmer_pct:.1f} %)" if abs(rel) >= 0.25 else f"shimmer as {usual} ({p.shimmer_pct:.1f} %)")
        add("shimmer_rel", rel, text, abs(rel) / 0.8)
    return tuple(cues)
