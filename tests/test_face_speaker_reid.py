"""Who is speaking and who came back (issue #32, part 3), on clips made from real MER2023 samples.

The full measurement (72 ordered pairs, 81 cut-away clips) is ``benchmarks/face_speaker.py`` and
``benchmarks/face_reid.py``; these tests build a few of the same clips in a temporary folder.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from affectlens.core.types import Segment
from affectlens.ingest.decode import decode, probe
from affectlens.modalities.base import AnalysisContext
from affectlens.modalities.face import FaceModality
from affectlens.modalities.face import track as track_mod
from affectlens.modalities.face.speaker import attribute_speaker
from affectlens.modalities.face.track import FaceTracker
from affectlens.testing import composite

pytestmark = pytest.mark.data

#: Two talking faces of the MER2023 samples (about 3.5 s each), and a third person.
LEFT, RIGHT, THIRD = "sample_00000000", "sample_00001073", "sample_00000338"


@pytest.fixture(scope="module")
def clips(shared_data: Path) -> dict[str, composite.Clip]:
    folder = shared_data / "video" / "mer2023_samples"
    return {name: composite.load_clip(folder / f"{name}.mp4", 360) for name in (LEFT, RIGHT, THIRD)}


def _analyse(path: Path) -> tuple[FaceModality, AnalysisContext]:
    info = probe(path)
    face = FaceModality(frame_rate=10.0)
    face.start(info)
    report = decode(info, frame_rate=10.0, on_frame=face.observe_frame)
    segs = [Segment(0, 0.0, float(info.duration), "window")]
    return face, AnalysisContext(media=info, segments=segs, audio=report.audio)


def _side(face: FaceModality, face_id: int, split: int) -> str:
    xs = [o.box[0] + o.box[2] / 2 for o in face.timeline() if o.face_id == face_id]
    return "left" if float(np.median(xs)) < split else "right"


@pytest.mark.parametrize("sound", ["left", "right"])
def test_side_by_side_names_the_face_that_is_heard(clips, tmp_path: Path, sound: str) -> None:
    """Both faces talk; only the one whose sound plays is the speaker."""
    path = composite.side_by_side(clips[LEFT], clips[RIGHT], sound, tmp_path / f"pair_{sound}.mp4")
    face, ctx = _analyse(path)
    assert len({o.face_id for o in face.timeline()}) == 2
    (ev,) = face.evidence(ctx)
    assert ev.speaker not in (None, "unknown"), ev
    assert _side(face, int(ev.speaker), clips[LEFT].frames[0].shape[1]) == sound
    assert "2 faces visible" in (ev.reason or "")


def test_still_mouths_give_unknown_not_a_guess(clips, tmp_path: Path) -> None:
    """Two faces, neither mouth moving, a voice playing: the speaker is not on screen."""
    seconds = 2.5
    still = [composite.frozen(clips[k], seconds) for k in (LEFT, RIGHT)]
    path = composite.side_by_side(still[0], still[1], "left", tmp_path / "still.mp4")
    face, ctx = _analyse(path)
    assert len({o.face_id for o in face.timeline()}) == 2
    (ev,) = face.evidence(ctx)
    assert ev.speaker == "unknown"
    assert "unknown" in (ev.reason or "")


def test_attribution_rules_on_series() -> None:
    t = list(np.arange(0, 3, 0.1))
    rng = np.random.default_rng(0)
    still = {0: (t, list(0.02 + 0.002 * rng.standard_normal(len(t)))),
             1: (t, list(0.01 + 0.002 * rng.standard_normal(len(t))))}
    sr = 16_000
    voice = (rng.standard_normal(3 * sr) * 0.1).astype(np.float32)
    assert attribute_speaker(still, len(t), voice, sr) is None  # nobody on screen moves: unknown
    assert attribute_speaker(still, len(t)) is None
    assert attribute_speaker({5: still[0]}, len(t), voice, sr) == 5  # one face: that face
    assert attribute_speaker({}, 0) is None
    talking = 0.15 * (np.sin(2 * np.pi * 1.5 * np.array(t)) > 0)
    moving = {0: still[0], 1: (t, list(talking))}
    assert attribute_speaker(moving, len(t), voice, sr) == 1  # the only moving mouth
    # the voice follows face 2's mouth, while face 1's moves just as much out of step with it
    audio = np.zeros(3 * sr, np.float32)
    other = 0.15 - talking
    for i, ti in enumerate(t):
        if other[i] > 0.1:
            audio[int(ti * sr): int((ti + 0.1) * sr)] = rng.standard_normal(int(0.1 * sr)) * 0.3
    assert attribute_speaker({1: (t, list(talking)), 2: (t, list(other))}, len(t), audio, sr) == 2


def _part_ids(face: FaceModality, spans) -> list[int | None]:
    out = []
    for lo, hi in spans:
        ids = [o.face_id for o in face.timeline() if lo <= o.time < hi]
        out.append(Counter(ids).most_common(1)[0][0] if ids else None)
    return out


def test_face_that_returns_after_a_cut_away_keeps_its_id(clips, tmp_path: Path) -> None:
    """A, 3 s of another person (where A stood), A again: A keeps its id, the other person
    gets another one; with black instead, A keeps its id too."""
    a = clips[LEFT]
    half = a.duration / 2
    first, second = composite.part(a, 0, half), composite.part(a, half, a.duration)
    path, (lo, hi) = composite.cut_away(first, clips[THIRD], second, tmp_path / "away.mp4", 3.0)
    face, _ = _analyse(path)
    before, away, after = _part_ids(face, [(0, lo), (lo + 0.15, hi - 0.05), (hi + 0.15, 1e9)])
    assert before is not None and away is not None and after is not None
    assert after == before
    assert away != before
    assert face._tracker.cuts >= 2 and face._tracker.reidentified >= 1
    assert face._tracker.embeddings <= 12  # at track starts and every 2 s, not every frame

    path, (lo, hi) = composite.cut_away(first, None, second, tmp_path / "black.mp4", 3.0)
    face, _ = _analyse(path)
    before, after = _part_ids(face, [(0, lo), (hi + 0.15, 1e9)])
    assert before is not None and after == before


def test_reid_needs_the_frame_and_never_merges_faces_seen_together(clips) -> None:
    """Without the frame the tracker is the box tracker it was; two faces in one frame never share an id."""
    tr = FaceTracker(max_gap=1.0)
    assert tr.update(0.0, [(0, 0, 100, 100)]) == [0]
    assert tr.update(2.0, [(0, 0, 100, 100)]) == [1]  # back after 2 s, no frame given: a new id
    assert tr.embeddings == 0
    img = clips[LEFT].frames[0]
    from affectlens.modalities.face.detect import FaceDetector
    from affectlens.modalities.face.mesh import FaceMesher, landmark_box

    det = FaceDetector()(img)[0]
    lm = FaceMesher()(img, det)
    box = landmark_box(lm)
    emb = track_mod.appearance(img, lm)
    assert emb.ndim == 1 and np.isfinite(emb).all()
    assert track_mod.similarity(emb, emb) == pytest.approx(1.0, abs=1e-5)
    tr = FaceTracker(max_gap=1.0)
    shifted = (box[0] + 300, box[1], box[2], box[3])
    ids = tr.update(0.0, [box, shifted], image=img, landmarks=[lm, lm])
    assert len(set(ids)) == 2  # the same appearance twice in one frame: still two faces
