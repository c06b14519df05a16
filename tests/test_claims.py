"""The claim-by-claim check of language-model answers (no server: the answers are written here).

Each rejected case is one that a real small model produced and the earlier, narrower check
accepted (issue #31): a code with another unit's description, a value that was not measured,
a number from nowhere, a guessed thought, a modality that had no evidence.
"""

from __future__ import annotations

import pytest

from affectlens.core.labels import LABELS
from affectlens.core.types import Cue, Evidence, FusedPrediction, Segment
from affectlens.explain.claims import AUFact, Facts, aus_described, check_claims, number_matches
from affectlens.explain.llm import split_answer, utterance_facts, utterance_prompt
from affectlens.explain.templates import explain


def _probs(top: str, p: float, second: str | None = None, q: float = 0.0) -> dict[str, float]:
    rest = (1 - p - q) / (len(LABELS) - (2 if second else 1))
    out = {k: rest for k in LABELS}
    out[top] = p
    if second:
        out[second] = q
    return out


@pytest.fixture
def facts() -> Facts:
    """A sad face, no voice, a transcript: facts built the way the pipeline builds them."""
    cues = (Cue("face", "AU15", 4.96, "lip corners pulled down (AU15, 5.0/5)", 1.0),
            Cue("face", "AU23", 4.43, "lips tightened (AU23, 4.4/5)", 0.9),
            Cue("face", "AU45", 3.5, "eyes closed (blink) (AU45, 3.5/5)", 0.7))
    evidence = {
        "face": Evidence("face", 0, True, _probs("sad", 0.6, "angry", 0.1), 0.9, cues),
        "voice": Evidence.missing("voice", 0, "no speech in this segment"),
        "words": Evidence("words", 0, True, _probs("sad", 0.5), 0.5, (), emotion_words=(("remorse", 0.6),)),
    }
    fused = FusedPrediction("sad", _probs("sad", 0.6, "angry", 0.1), -0.57, -0.03, {"face": 0.7, "words": 0.3},
                            emotion_words=(("sad", 0.6), ("remorse", 0.3)))
    segment = Segment(0, 0.0, 2.0, "subtitles", text="I am so angry at myself, I'm sorry.")
    explanation = explain(segment, evidence, fused)
    prompt = utterance_prompt(segment, fused, explanation)
    return utterance_facts(segment, evidence, fused, explanation, prompt)


def test_faithful_rewrite_is_accepted(facts):
    answer = ("The person looks sad (60%). Her lip corners are pulled down (AU15, 5.0/5) and her lips are "
              "tightened (AU23, 4.4/5); her eyes are closed (AU45, 3.5/5). There was no speech to judge the voice.")
    check = check_claims(answer, facts)
    assert check.ok, check.reason()
    kinds = {c.kind for c in check.claims}
    assert {"action_unit", "number", "emotion", "modality"} <= kinds


@pytest.mark.parametrize("answer, why", [
    ("She is sad: lip corners pulled up (AU23, 4.4/5).", "AU23 is not described"),  # issue: wrong description
    ("She is sad; her mouth dropped (AU05, 1.7/5).", "AU05 is not among the cited cues"),  # issue: unknown code
    ("She is sad: lips tightened (AU23, 3.9/5).", "AU23 is given as 3.9"),  # wrong value
    ("She is sad: lips tightened (AU23).", "AU23 comes without its measured value"),
    ("She is sad, scoring 7.5 on the sadness scale.", "the number 7.5"),  # invented number
    ("She is not as sad as they might think.", "negated"),  # issue: invented interpretation
    ("She is sad, and her brows are lowered.", "AU04"),  # a movement nobody measured
    ("She is sad and her voice trembles.", "voice"),  # the voice had no evidence
    ("She feels guilty and sad.", "'guilty'"),  # an emotion the input does not state
    ("She is sad (45%).", "45% is not the probability"),  # a number bound to the wrong label
    ("She is sad because of her boyfriend.", "'boyfriend'"),  # life context no cue measures
    ("She is sad. She is sad. She is sad.", "repeats itself"),
    ("Her lip corners are pulled down (AU15, 5.0/5).", "names no emotion"),
    ("I am sad about it.", "speaks as the person"),
    ('She is sad; her face says "leprosy".', "quotes 'leprosy'"),
])
def test_unsupported_claims_are_rejected(facts, answer, why):
    check = check_claims(answer, facts)
    assert not check.ok
    assert why in check.reason(limit=10), check.reason(limit=10)


def test_quoting_the_transcript_is_not_a_claim(facts):
    """The transcript says "angry", which the result does not: quoting it is fine, claiming it is not."""
    assert check_claims('She is sad and says "I am so angry at myself".', facts).ok
    assert not check_claims("She is sad and angry at herself.", facts).ok


def test_labels_above_the_threshold_may_be_named():
    facts = Facts(numbers=("55", "25"), labels=frozenset({"sad", "angry"}), with_evidence=frozenset({"face"}),
                  prompt="Sad (55%). Face suggests sad (55%); angry (25%).")
    assert check_claims("She looks sad (55%), perhaps angry (25%).", facts).ok
    assert not check_claims("She looks sad (55%), perhaps afraid.", facts).ok


def test_open_vocabulary_word_of_the_input_may_be_named(facts):
    assert check_claims("She is sad and full of remorse.", facts).ok


def test_rounding_of_values():
    facts = Facts(aus=(AUFact("AU12", "lip corners pulled up (AU12, 2.3/5)", 2.34),), numbers=("2.3",),
                  labels=frozenset({"happy"}), with_evidence=frozenset({"face"}))
    assert check_claims("She is happy: lip corners pulled up (AU12, 2.3/5).", facts).ok
    assert check_claims("She is happy: lip corners pulled up (AU12, 2.3 out of 5).", facts).ok
    assert not check_claims("She is happy: lip corners pulled up (AU12, 2/5).", facts).ok  # too coarse
    assert not check_claims("She is happy: lip corners pulled up (AU12, 2.4/5).", facts).ok
    assert number_matches("60", "0.60") and number_matches("0.6", "0.56") and not number_matches("1", "0.56")
    assert number_matches("12", "12.4") and not number_matches("2", "2.3")


def test_codes_without_values_in_merr_style_facts():
    """MERR cue lists give codes and FACS names only: the code needs its name, and no value."""
    facts = Facts(aus=(AUFact("AU12", "Lip Corner Puller"), AUFact("AU06", "Cheek Raiser")),
                  labels=frozenset({"happy"}), with_evidence=frozenset({"face"}))
    assert check_claims("The Lip Corner Puller (AU12) and Cheek Raiser (AU06) show happiness.", facts).ok
    assert check_claims("Lip corners are pulled up and cheeks raised (AU12, AU06): she is happy.", facts).ok
    bad = check_claims("The Lip Corner Puller (AU12, 3.1) shows happiness.", facts)
    assert not bad.ok and "no measured value" in bad.reason()
    assert not check_claims("The Cheek Raiser (AU12) shows happiness.", facts).ok


def test_descriptions_map_to_their_units():
    assert aus_described("lip corners pulled up") == {"AU12"}
    assert aus_described("lip corners pulled down") == {"AU15"}
    assert aus_described("lips tightened") == {"AU23"}
    assert aus_described("dimpler (lip corners tightened)") == {"AU14"}
    assert aus_described("Brow Lowerer") == {"AU04"}
    assert aus_described("eyes closed (blink)") >= {"AU45"}
    assert aus_described("the voice is louder") == set()


def test_split_answer_keeps_words_apart():
    text, words = split_answer("She looks sad (60%).\nEmotion words: Sadness, regret, AU15, 0.6, sadness")
    assert text == "She looks sad (60%)." and words == ("sadness", "regret")
    text, words = split_answer("**Emotion words:** grief\nShe looks sad (60%).")
    assert text == "She looks sad (60%)." and words == ("grief",)


def test_emotions_said_of_a_modality_must_be_its_own():
    """Seen in SmolLM2's MERR captions: a copied "face, voice and words all point to X" when they do not."""
    facts = Facts(labels=frozenset({"neutral", "surprise"}), with_evidence=frozenset({"face", "voice", "words"}),
                  modality_labels={"face": frozenset({"neutral"}), "voice": frozenset({"surprise"}),
                                   "words": frozenset({"neutral"})})
    assert check_claims("The face is neutral and the voice sounds surprised.", facts).ok
    wrong = check_claims("The words read as surprise too.", facts)
    assert not wrong.ok and "attributed to the words" in wrong.reason()
    together = check_claims("The face is neutral, so the face, the voice and the words all point to surprise.", facts)
    assert not together.ok and "face and words" in together.reason()
