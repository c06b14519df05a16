"""AU intensities that do not saturate (issue #32, part 2): the neutral baseline is anchored on
the frames the classifier calls neutral, AU05 is not read through closed lids, and on real
video the top of the scale is rare. Full figures: ``benchmarks/face_au_saturation.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectlens.ingest.decode import decode, probe
from affectlens.modalities.face import FaceModality
from affectlens.modalities.face import aus as au

K = {a: au.AU_NAMES.index(a) for a in au.AU_NAMES}


def _track(n_smile: int = 40, n_neutral: int = 20, n_sad: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Scores of a face that smiles, rests, then pulls its lip corners down."""
    neutral, unit = au.population_neutral()
    own = neutral + 0.8 * unit * np.sign(np.arange(len(unit)) % 3 - 1)  # this person's own resting face
    rows, calm = [], []
    for kind, n in (("smile", n_smile), ("neutral", n_neutral), ("sad", n_sad)):
        for _ in range(n):
            s = own.copy()
            if kind == "smile":
                s[K["AU12"]] += 3.0 * unit[K["AU12"]]
                s[K["AU15"]] -= 3.0 * unit[K["AU15"]]  # corners up: the depressor's measure falls
            elif kind == "sad":
                s[K["AU15"]] += 2.0 * unit[K["AU15"]]
                s[K["AU12"]] -= 2.0 * unit[K["AU12"]]
            rows.append(s)
            calm.append(kind == "neutral")
    return np.array(rows), np.array(calm)


def test_baseline_is_the_neutral_frames_not_the_opposite_expression() -> None:
    scores, calm = _track()
    base = au.baseline(scores, calm)
    np.testing.assert_allclose(base[K["AU12"]], scores[calm][0, K["AU12"]], atol=1e-9)
    inten = au.intensities(scores, base)
    smile, sad = slice(0, 40), slice(60, 100)
    assert inten[smile, K["AU12"]].mean() == pytest.approx(3.0, abs=0.01)
    assert inten[sad, K["AU15"]].mean() == pytest.approx(2.0, abs=0.01)
    assert inten[calm].max() < 1e-6  # the neutral frames read 0 on every AU
    # the rule this replaced (the track's 20th percentile) took the smile as AU15's neutral:
    # sad frames read 5 units of AU15 instead of 2
    old = (scores - np.percentile(scores, 20, axis=0)) / au.population_neutral()[1]
    assert old[sad, K["AU15"]].mean() > 4.5


def test_baseline_without_neutral_frames_falls_back() -> None:
    """Two-sided AUs fall back on the population neutral, one-sided ones on the track's low percentile."""
    scores, _ = _track(n_neutral=0)
    neutral, _ = au.population_neutral()
    two = [j for j, a in enumerate(au.AU_NAMES) if a not in au.ONE_SIDED and a != "AU05"]
    one = [au.AU_NAMES.index(a) for a in au.ONE_SIDED]
    for calm in (np.zeros(len(scores), bool), None):
        base = au.baseline(scores, calm)
        np.testing.assert_allclose(base[two], neutral[two])
        np.testing.assert_allclose(base[one], np.percentile(scores[:, one], au.OWN_PERCENTILE, axis=0))
    short = scores[:6]  # a short track leans on the population neutral
    w = 6 / au.OWN_FULL_FRAMES
    np.testing.assert_allclose(au.baseline(short, None)[one],
                               w * np.percentile(short[:, one], au.OWN_PERCENTILE, axis=0) + (1 - w) * neutral[one])
    # a few neutral frames pull it part of the way
    scores, calm = _track(n_neutral=5)
    base = au.baseline(scores, calm)
    own = scores[calm][0]
    w = 5 / au.BASELINE_FULL_FRAMES
    np.testing.assert_allclose(base[K["AU12"]], w * own[K["AU12"]] + (1 - w) * neutral[K["AU12"]], atol=1e-9)
    assert au.baseline(scores[:0], None).shape == neutral.shape
    with pytest.raises(ValueError, match="entries"):
        au.baseline(scores, calm[:-1])


def test_au05_is_not_read_through_closed_lids() -> None:
    neutral, unit = au.population_neutral()
    s = np.tile(neutral, (4, 1))
    s[:, K["AU05"]] += 3 * unit[K["AU05"]]  # the mesh puts the iris top well below the lid...
    aperture = -neutral[K["AU45"]]
    s[:, K["AU45"]] = -aperture * np.array([1.0, 0.7, 0.5, 0.05])  # ...while the eyes close
    inten = au.intensities(s, neutral)
    assert inten[0, K["AU05"]] == pytest.approx(3.0, abs=1e-6)  # open: read as it is
    assert 0 < inten[1, K["AU05"]] < 3.0
    assert inten[2, K["AU05"]] == 0 and inten[3, K["AU05"]] == 0  # half closed or shut: no AU05
    assert inten[3, K["AU45"]] > 4.5
    # blinks in the neutral frames do not drag AU05's neutral down
    calm = np.ones(20, bool)
    track = np.tile(neutral, (20, 1))
    track[:5, K["AU45"]] = -0.05 * aperture
    track[:5, K["AU05"]] -= 5 * unit[K["AU05"]]
    assert au.baseline(track, calm)[K["AU05"]] == pytest.approx(neutral[K["AU05"]], abs=1e-9)


@pytest.mark.data
def test_sample_lip_corners_and_lids_no_longer_saturate(pexels_clip: Path) -> None:
    """On the bundled sample (crying, then laughing) the report read AU14 and AU15 at 5/5 for
    whole utterances and AU05 at 4.5-5 around her shut eyes: no 2-second window may now hold
    AU14 or AU15 at >= 4.5 in most of its frames, AU15 reaches 4.5 in at most 5 % of frames,
    and AU05 is 0 whenever her eyes are shut."""
    info = probe(pexels_clip)
    face = FaceModality(frame_rate=5.0)
    face.start(info)
    decode(info, frame_rate=5.0, on_frame=face.observe_frame, want_audio=False)
    table = face.timeline()
    face.close()
    x = np.array([[o.aus[a] for a in au.AU_NAMES] for o in table])
    t = np.array([o.time for o in table])
    assert len(x) > 80
    for lo in np.arange(0.0, 19.0, 2.0):
        w = (t >= lo) & (t < lo + 2.0)
        for a in ("AU14", "AU15"):
            assert np.median(x[w, K[a]]) < 4.5, (a, lo, x[w, K[a]])
    top = (x >= 4.5).mean(axis=0)
    assert top[K["AU15"]] <= 0.05 and top[K["AU05"]] <= 0.05, dict(zip(au.AU_NAMES, top.round(3), strict=True))
    shut = x[:, K["AU45"]] >= 4.0
    assert shut.sum() >= 5  # she cries with her eyes shut...
    assert x[shut, K["AU05"]].max() == 0.0  # ...and then there is no upper-lid raise to read
    early, late = t < 5.0, t > 14.0
    assert x[late, K["AU12"]].mean() > x[early, K["AU12"]].mean() + 1.0  # laughing, not crying
