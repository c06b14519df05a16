"""Words modality, TF-IDF fallback and context building (fast; no encoder needed)."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.core.labels import LABELS
from affectlens.core.types import MediaInfo, MediaKind, Segment
from affectlens.modalities.base import MODALITIES, AnalysisContext
from affectlens.modalities.words import WordsModality, predict_texts
from affectlens.modalities.words.context import build_context
from affectlens.modalities.words.predict import reliability
from affectlens.modalities.words.tfidf import TfidfTextModel, analyze, load_tfidf, ngrams, occurrences


def test_context_stays_inside_dialogue_and_tags_speakers():
    ctx = build_context(["hi", "", "you again", "oh no", "new talk"], ["A", "B", "B", "A", "A"],
                        ["d1", "d1", "d1", "d1", "d2"])
    assert ctx[0] == ""
    assert ctx[2] == "other: hi"  # the empty turn is skipped, A != B
    assert ctx[3] == "same: hi | other: you again"  # relative to the current speaker A
    assert ctx[4] == ""  # never crosses into another dialogue


def test_context_same_speaker_and_limit():
    ctx = build_context(["a", "b", "c", "d"], ["X", "X", "Y", "X"], None, previous=2)
    assert ctx[3] == "same: b | other: c"
    assert build_context(["a", "b"], previous=0) == ["", ""]


def test_occurrences_map_to_tokens():
    occ = dict(occurrences("Sorry, Joey!", char_range=(3, 3)))
    assert occ["w:sorry"] == (0,)
    assert occ["w:sorry joey"] == (0, 1)
    assert occ["w:!"] == (1,)
    assert occ["c: so"] == (0,)


def test_own_transform_matches_sklearn():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    corpus = ["I am so sorry.", "What?! No way!", "This is great, thank you!", "Get out of my apartment!",
              "Okay.", "I'm scared, Ross.", "Ew, that's gross.", "We're so happy for you."]
    y = [2, 6, 1, 3, 0, 4, 5, 1]
    vec = TfidfVectorizer(analyzer=analyze, sublinear_tf=True)
    x = vec.fit_transform(corpus)
    clf = LogisticRegression(C=10, max_iter=1000).fit(x, y)
    model = TfidfTextModel(vocabulary=vec.vocabulary_, idf=vec.idf_, coef=clf.coef_, intercept=clf.intercept_,
                           labels=[str(c) for c in clf.classes_])
    probe = ["so sorry sorry!", "great day", "nothing known here zzz"]
    np.testing.assert_allclose(model.features(probe), vec.transform(probe).toarray(), atol=1e-12)
    np.testing.assert_allclose(model.transform(probe + probe[:1]).toarray(), model.features(probe + probe[:1]), atol=1e-12)
    assert all(ngrams(t) == [f for f, _ in occurrences(t)] for t in probe + corpus)  # the fast path's n-grams
    np.testing.assert_allclose(model.predict_proba(probe), clf.predict_proba(vec.transform(probe)), atol=1e-9)
    # Attributions are exact: per-word contributions add up to the logits minus the intercept.
    for text in probe:
        total = sum(c.contributions for c in model.contributions(text))
        np.testing.assert_allclose(total, model.logits([text])[0] - clf.intercept_, atol=1e-9)


def test_shipped_tfidf_model_reads_an_apology_as_sad():
    model = load_tfidf()
    probs = model.predict_proba(["I'm so sorry, I really am."])[0]
    assert model.labels[int(np.argmax(probs))] == "sadness"


def test_predict_texts_fallback_gives_cues_it_used():
    preds = predict_texts(["I'm so sorry, I really am.", None, "   "], prefer="tfidf")
    assert preds[1] is None and preds[2] is None
    p = preds[0]
    assert p.model == "text-emotion-tfidf"
    assert p.label == "sad"
    assert abs(sum(p.probs.values()) - 1) < 1e-9 and set(p.probs) == set(LABELS)
    assert p.attributions[0].word == "sorry" and p.attributions[0].weight > 0
    assert p.valence < 0  # VADER: "sorry" is negative
    assert set(p.sentiment) == {"negative", "neutral", "positive"}


def test_reliability_grows_with_words_and_is_capped():
    r = [reliability(n, "text-emotion-minilm") for n in (0, 1, 3, 10, 100)]
    assert r == sorted(r) and r[0] > 0 and r[-1] <= 0.9
    assert reliability(10, "text-emotion-tfidf") < reliability(10, "text-emotion-minilm")


def _context(segments):
    media = MediaInfo(path="x.srt", kind=MediaKind.TEXT, duration=10.0, has_audio=False, has_video=False)
    return AnalysisContext(media=media, segments=segments)


@pytest.mark.parametrize("prefer", ["tfidf", "encoder"])
def test_modality_one_evidence_per_segment(prefer):
    segments = [
        Segment(0, 0.0, 1.0, "subtitles", text="Oh my God, I'm so sorry.", speaker="Rachel", dialogue="1"),
        Segment(1, 1.0, 2.0, "window", text=None),
        Segment(2, 2.0, 3.0, "subtitles", text="", speaker="Ross", dialogue="1"),
        Segment(3, 3.0, 4.0, "subtitles", text="Get out! Get out of my apartment!", speaker="Monica", dialogue="1"),
    ]
    assert MODALITIES["words"] is WordsModality
    ev = WordsModality(prefer=prefer).evidence(_context(segments))
    assert [e.segment_index for e in ev] == [0, 1, 2, 3]
    assert not ev[1].available and ev[1].reason == "no words in this segment" and ev[1].probs is None
    assert not ev[2].available
    for e in (ev[0], ev[3]):
        assert e.available and e.modality == "words"
        assert abs(sum(e.probs.values()) - 1) < 1e-6
        assert 0 < e.reliability <= 1
        assert e.model in ("text-emotion-minilm", "text-emotion-tfidf")
        assert -1 <= e.valence <= 1
        assert all(c.modality == "words" for c in e.cues)
        assert all(c.weight > 0 for c in e.cues if c.name.startswith("word:"))
        assert all(c.name.startswith("word:") or (c.name == "context:dialogue" and abs(c.weight) >= 0.1)
                   for c in e.cues)
    assert ev[0].label == "sad"
    assert ev[0].cues and "sorry" in {c.name[5:] for c in ev[0].cues}
    if prefer == "tfidf":
        assert ev[0].model == "text-emotion-tfidf"
