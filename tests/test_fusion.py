"""Fusion arithmetic, reliability weighting, conflicts and the explanation built from cues."""

from __future__ import annotations

import pytest

from affectlens.core.labels import LABELS, map_label, to_shared_probs, valence_arousal
from affectlens.core.types import Cue, Evidence, Segment
from affectlens.explain.templates import explain
from affectlens.fusion.fuse import fuse


def probs(**kw):
    rest = (1.0 - sum(kw.values())) / max(1, len(LABELS) - len(kw))
    return {k: kw.get(k, rest) for k in LABELS}


def ev(modality, p, rel=1.0, cues=()):
    return Evidence(modality, 0, True, p, rel, tuple(cues))


def test_missing_modality_gets_no_weight():
    fused = fuse({
        "face": ev("face", probs(happy=0.9)),
        "voice": Evidence.missing("voice", 0, "no speech"),
    })
    assert fused.label == "happy" and fused.contributions == {"face": 1.0}
    assert fused.probs["happy"] == pytest.approx(0.9)


def test_reliability_weights_and_contributions_sum_to_one():
    fused = fuse({"face": ev("face", probs(sad=0.6), rel=0.2), "words": ev("words", probs(happy=0.7), rel=1.0)})
    assert fused.label == "happy"
    assert sum(fused.contributions.values()) == pytest.approx(1.0)
    assert fused.contributions["words"] > fused.contributions["face"]
    assert sum(fused.probs.values()) == pytest.approx(1.0)


def test_conflict_between_confident_modalities():
    fused = fuse({"face": ev("face", probs(happy=0.8)), "words": ev("words", probs(sad=0.7))})
    assert fused.conflict and "face says happy" in fused.conflict_detail
    calm = fuse({"face": ev("face", probs(happy=0.8)), "words": ev("words", probs(sad=0.3))})
    assert not calm.conflict


def test_no_evidence_at_all():
    fused = fuse({"face": Evidence.missing("face", 0, "no face visible")})
    assert fused.no_evidence and fused.label == "unknown" and fused.confidence == 0.0
    text = explain(Segment(0, 0, 1, "window"), {"face": Evidence.missing("face", 0, "no face visible")}, fused).text
    assert "No evidence" in text and "no face visible" in text


def test_explanation_cites_only_measured_cues():
    cue = Cue("face", "AU12", 2.5, "lip corners pulled up (AU12, 2.5/5)", weight=2.5)
    evidence = {"face": ev("face", probs(happy=0.8), cues=[cue]), "voice": Evidence.missing("voice", 0, "no speech")}
    fused = fuse(evidence)
    explanation = explain(Segment(0, 0.0, 2.0, "vad"), evidence, fused)
    assert "AU12" in explanation.text and "Voice: no evidence (no speech)" in explanation.text
    assert explanation.cues == (cue,)


def test_label_mappings_and_valence():
    assert map_label("calm", "ravdess") == "neutral" and map_label("worried", "mer2023") == "fear"
    p = to_shared_probs([0.5, 0.5], ["joy", "sadness"], "meld")
    assert p[LABELS.index("happy")] == pytest.approx(0.5)
    doubt = to_shared_probs([1.0], ["doubt"], "mer2023")
    assert doubt.sum() == pytest.approx(1.0) and doubt.max() == pytest.approx(1 / 7)
    v, a = valence_arousal(probs(happy=1.0, **{k: 0.0 for k in LABELS if k != "happy"}))
    assert v > 0.5 and a > 0
