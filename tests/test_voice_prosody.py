"""Prosody measures on synthetic voices with known pitch, level and rhythm, and their baseline reading."""

from __future__ import annotations

import math

import numpy as np
import pytest

from affectlens.core.types import Word
from affectlens.modalities.voice import features
from affectlens.modalities.voice.prosody import (
    MIN_BASELINE_UTTERANCES,
    POPULATION_NORMS,
    baseline,
    measure,
    relative_cues,
)

SR = 16_000


def voice(seconds: float = 2.0, f0: float = 150.0, amp: float = 0.1, syll_hz: float = 4.0,
          seed: int = 0) -> np.ndarray:
    """Harmonic 'vowels' at ``f0`` gated into syllables at ``syll_hz``, plus faint noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * f0 * t
    tone = sum(np.sin(k * phase) / k for k in range(1, 15))
    env = np.clip(np.sin(2 * np.pi * syll_hz * t), 0, None) ** 0.5
    return (amp * tone * env + 1e-4 * rng.standard_normal(len(t))).astype(np.float32)


def cue(cues, name):
    return next(c for c in cues if c.name == name)


def test_pitch_and_syllable_rate_are_measured() -> None:
    p = measure(voice(f0=200.0, syll_hz=4.0))
    assert p.pitch_median_hz == pytest.approx(200.0, rel=0.03)
    assert p.pitch_range_st < 1.0  # a flat tone has no intonation
    assert p.rate_unit == "syllables/s"
    assert 2.5 < p.speech_rate < 6.5  # 4 gated bursts per second (per speaking second)
    assert 0.0 <= p.pause_ratio < 0.6
    for value in (p.jitter_pct, p.shimmer_pct, p.hnr_db, p.intensity_db):
        assert math.isfinite(value)


def test_silence_and_tiny_input_give_nan_not_errors() -> None:
    for audio in (np.zeros(SR, np.float32), np.zeros(10, np.float32), 1e-4 * np.ones(SR, np.float32)):
        p = measure(audio)
        assert math.isnan(p.pitch_median_hz)
        assert relative_cues(p, POPULATION_NORMS) == () or all(c.name != "pitch_rel" for c in relative_cues(p, POPULATION_NORMS))


def test_words_with_times_give_words_per_second() -> None:
    words = tuple(Word(f"w{i}", start=0.1 + 0.4 * i, end=0.4 + 0.4 * i) for i in range(5))
    p = measure(voice(), words)
    assert p.rate_unit == "words/s"
    assert p.speech_rate == pytest.approx(5 / (words[-1].end - words[0].start))


def test_baseline_is_the_speakers_median_and_cues_read_against_it() -> None:
    usual = [measure(voice(f0=150.0, amp=0.05, seed=s)) for s in range(4)]
    base = baseline(usual)
    assert base.source == "speaker" and base.n_utterances == 4
    assert base.pitch_median_hz == pytest.approx(150.0, rel=0.03)

    excited = measure(voice(f0=195.0, amp=0.2))
    cues = relative_cues(excited, base)
    pitch = cue(cues, "pitch_rel")
    assert pitch.value == pytest.approx(0.3, abs=0.04)
    assert "30 % above this speaker's usual" in pitch.description
    loud = cue(cues, "loudness_rel")
    assert loud.value == pytest.approx(12.0, abs=1.5)  # 4x amplitude = +12 dB
    assert loud.description.startswith("louder")
    assert pitch.weight > 0.9 and loud.weight == 1.0

    calm = cue(relative_cues(usual[0], base), "pitch_rel")
    assert abs(calm.value) < 0.05 and "close to" in calm.description and calm.weight < 0.2


def test_too_few_utterances_fall_back_to_population_norms_and_say_so() -> None:
    few = [measure(voice(f0=150.0, seed=s)) for s in range(MIN_BASELINE_UTTERANCES - 1)]
    base = baseline(few)
    assert base is POPULATION_NORMS
    cues = relative_cues(few[0], base)
    assert all("typical voices" in c.description for c in cues)
    assert all(c.name != "loudness_rel" for c in cues)  # no population norm for loudness


def test_level_normalisation_and_quality_measures() -> None:
    a = voice(amp=0.01)
    b = features.normalise_level(a)
    assert features.speech_level_db(b) == pytest.approx(features.TARGET_DBFS, abs=0.5)
    silent = np.zeros(SR, np.float32)
    assert np.all(features.normalise_level(silent) == 0)
    assert features.clipped_fraction(np.clip(voice(amp=2.0), -1, 1)) > 0.01
    assert features.clipped_fraction(a) == 0.0
    rng = np.random.default_rng(0)
    noisy = a + 0.01 * rng.standard_normal(len(a)).astype(np.float32)
    assert features.snr_estimate_db(a) > features.snr_estimate_db(noisy) + 10
    assert features.active_speech(silent).sum() == 0
    assert features.active_speech(a).mean() > 0.4
