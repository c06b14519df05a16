"""The expression model's geometry head and its fusion with the CNN (issue #32)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from affectlens.core.errors import ModelError
from affectlens.core.labels import LABELS
from affectlens.modalities.face.crop import CROP_SIZE
from affectlens.modalities.face.expression import MODEL_NAME, ExpressionClassifier
from affectlens.modalities.face.expression_geometry import (
    N_FEATURES,
    GeometryHead,
    frontal_landmarks,
    shape_features,
)
from affectlens.models.registry import get_card

DISGUST, HAPPY = LABELS.index("disgust"), LABELS.index("happy")


def _face(seed: int = 0) -> np.ndarray:
    """A plausible 478-point mesh: random points plus eye corners, forehead and subnasale where a face has them."""
    rng = np.random.default_rng(seed)
    p = rng.normal(0, 30, (478, 3))
    p[33], p[133], p[362], p[263] = (-45, 0, 0), (-15, 0, 0), (15, 0, 0), (45, 0, 0)
    p[10], p[2] = (0, -70, 5), (0, 45, -10)
    return p + np.array([320.0, 240.0, 0.0])


def _rotate(p: np.ndarray, yaw: float, roll: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    cy, sy, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(roll), np.sin(roll)
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    c = p.mean(0)
    return (p - c) @ (r_roll @ r_yaw).T * scale + c + np.array([*shift, 0.0])


def test_shape_features_ignore_size_position_roll_and_yaw():
    p = _face()
    f = shape_features(p)
    assert f.shape == (N_FEATURES,) and f.dtype == np.float32
    moved = _rotate(p, yaw=np.radians(20), roll=np.radians(-15), scale=2.7, shift=(-100.0, 55.0))
    np.testing.assert_allclose(shape_features(moved), f, atol=1e-4)
    # eyes at (+-1, 0) in inter-ocular units, the subnasale straight below their midpoint
    q = frontal_landmarks(p)
    np.testing.assert_allclose(q[[33, 133, 362, 263], 0].reshape(2, 2).mean(1), [-0.5, 0.5], atol=1e-9)
    assert abs(q[2, 0]) < 1e-9 and q[2, 1] > 0
    # an expression (a landmark moving on the face) does change them
    raised = p.copy()
    raised[61, 1] -= 10
    assert np.abs(shape_features(raised) - f).max() > 0.1
    # batches, and the mesh without irises is refused
    assert shape_features(np.stack([p, moved])).shape == (2, N_FEATURES)
    with pytest.raises(ValueError):
        shape_features(p[:468])


def _head_arrays(bias: np.ndarray, slope: float = 0.0) -> dict[str, np.ndarray]:
    """A head whose logits are ``bias`` plus ``slope`` times the lip corner 61's frontal height."""
    w1 = np.zeros((N_FEATURES, 2), np.float32)
    w1[2 * 61 + 1, 0], w1[2 * 61 + 1, 1] = 1.0, -1.0  # relu(y) and relu(-y)
    w2 = np.zeros((2, len(LABELS)), np.float32)
    w2[0, HAPPY], w2[1, HAPPY] = slope, -slope
    return {"w1": w1, "b1": np.zeros(2, np.float32), "w2": w2, "b2": bias.astype(np.float32)}


def test_geometry_head_is_a_log_softmax_and_checks_its_shapes():
    bias = np.log(np.array([0.1, 0.4, 0.1, 0.1, 0.1, 0.1, 0.1]))
    head = GeometryHead(_head_arrays(bias))
    lp = head.log_proba(np.stack([_face(0), _face(1)]))
    assert lp.shape == (2, len(LABELS))
    np.testing.assert_allclose(np.exp(lp), np.exp(bias)[None].repeat(2, 0), atol=1e-6)
    bad = _head_arrays(bias)
    bad["w1"] = bad["w1"][:-2]
    with pytest.raises(ValueError):
        GeometryHead(bad)
    with pytest.raises(ValueError):
        GeometryHead({"w1": bad["w1"]})


def _model_with_head(tmp_path: Path, weight: float, head: dict[str, np.ndarray]) -> Path:
    """A copy of the shipped CNN ensemble with a stand-in geometry head."""
    card = get_card(MODEL_NAME)
    folder = tmp_path / "fused"
    folder.mkdir()
    raw = json.loads((card.folder / "card.json").read_text())
    files = {}
    for name in raw["members"]:
        shutil.copy(card.folder / name, folder / name)
        files[name] = raw["files"][name]
    np.savez(folder / "head.npz", **head)
    files["head.npz"] = hashlib.sha256((folder / "head.npz").read_bytes()).hexdigest()
    raw.update(files=files, geometry={"file": "head.npz", "weight": weight})
    (folder / "card.json").write_text(json.dumps(raw))
    return folder


def test_classifier_fuses_the_head_where_a_mesh_is_given(tmp_path):
    bias = np.log(np.array([0.05, 0.05, 0.05, 0.05, 0.05, 0.7, 0.05]))  # the head says disgust
    folder = _model_with_head(tmp_path, 0.8, _head_arrays(bias))
    rng = np.random.default_rng(3)
    crops = rng.random((3, CROP_SIZE, CROP_SIZE), dtype=np.float32)
    landmarks = np.stack([_face(0), _face(1), np.full((478, 3), np.nan)]).astype(np.float32)
    cnn = ExpressionClassifier(str(folder), geometry=False).predict(crops, landmarks)
    clf = ExpressionClassifier(str(folder))
    assert clf.uses_geometry and not ExpressionClassifier(str(folder), geometry=False).uses_geometry
    fused = clf.predict(crops, landmarks)
    expected = np.log(cnn[:2].astype(np.float64)) + 0.8 * bias
    expected = np.exp(expected - expected.max(1, keepdims=True))
    np.testing.assert_allclose(fused[:2], expected / expected.sum(1, keepdims=True), atol=1e-5)
    assert (fused[:2, DISGUST] > cnn[:2, DISGUST]).all()
    np.testing.assert_allclose(fused[2], cnn[2], atol=1e-7)  # no mesh: the CNN alone
    np.testing.assert_allclose(clf.predict(crops), cnn, atol=1e-7)  # no landmarks: the CNN alone
    np.testing.assert_allclose(fused.sum(1), 1.0, atol=1e-5)
    with pytest.raises(ValueError):
        clf.predict(crops, landmarks[:2])


def test_the_head_reads_the_landmarks_it_is_given(tmp_path):
    """The same crop with the lip corner moved down (higher y) reads more happy with a head that says so."""
    folder = _model_with_head(tmp_path, 1.0, _head_arrays(np.zeros(len(LABELS)), slope=3.0))
    crop = np.random.default_rng(0).random((1, CROP_SIZE, CROP_SIZE), dtype=np.float32)
    face = _face(0)
    lower = face.copy()
    lower[61, 1] += 15.0
    clf = ExpressionClassifier(str(folder))
    up, down = clf.predict(crop, face[None])[0], clf.predict(crop, lower[None])[0]
    # 15 px is about a quarter of an inter-ocular distance (60 px): the happy logit rises by 3 x that
    dy = frontal_landmarks(lower)[61, 1] - frontal_landmarks(face)[61, 1]
    assert 0.2 < dy < 0.26
    ratio = (down[HAPPY] / down[DISGUST]) / (up[HAPPY] / up[DISGUST])
    assert ratio == pytest.approx(np.exp(3.0 * dy), rel=1e-3)


def test_a_geometry_entry_must_name_a_checked_file_and_a_weight(tmp_path):
    folder = _model_with_head(tmp_path, 0.5, _head_arrays(np.zeros(len(LABELS))))
    raw = json.loads((folder / "card.json").read_text())
    crops = np.zeros((1, CROP_SIZE, CROP_SIZE), np.float32)
    for bad in ({"file": "other.npz", "weight": 0.5}, {"file": "head.npz"}, "head.npz"):
        (folder / "card.json").write_text(json.dumps({**raw, "geometry": bad}))
        get_card.cache_clear()
        with pytest.raises(ModelError):
            ExpressionClassifier(str(folder)).predict(crops)
    raw.pop("geometry")
    (folder / "card.json").write_text(json.dumps(raw))
    get_card.cache_clear()
    with pytest.raises(ModelError):  # asked for a head the card does not have
        ExpressionClassifier(str(folder), geometry=True).predict(crops)
    assert not ExpressionClassifier(str(folder)).uses_geometry
    get_card.cache_clear()


def test_an_opt_in_head_brings_its_own_flip_choice(tmp_path):
    """``default: false`` leaves the CNN alone unless asked; asked, the entry's ``tta_flip`` comes with it."""
    folder = _model_with_head(tmp_path, 0.5, _head_arrays(np.zeros(len(LABELS))))
    raw = json.loads((folder / "card.json").read_text())
    raw["tta_flip"] = False
    raw["geometry"].update(default=False, tta_flip=True)
    (folder / "card.json").write_text(json.dumps(raw))
    get_card.cache_clear()
    plain = ExpressionClassifier(str(folder))
    assert not plain.uses_geometry and not plain.flip_
    opted = ExpressionClassifier(str(folder), geometry=True)
    assert opted.uses_geometry and opted.flip_
    own = ExpressionClassifier(str(folder), geometry=True, flip=False)
    assert own.uses_geometry and not own.flip_  # the caller still decides
    crops = np.random.default_rng(2).random((2, CROP_SIZE, CROP_SIZE), dtype=np.float32)
    landmarks = np.stack([_face(0), _face(1)])
    # a head that says nothing (uniform) leaves the CNN's probabilities, here with flip averaging
    np.testing.assert_allclose(opted.predict(crops, landmarks), ExpressionClassifier(str(folder), flip=True,
                               geometry=False).predict(crops), atol=1e-5)
    np.testing.assert_allclose(plain.predict(crops, landmarks), plain.predict(crops), atol=1e-7)
    get_card.cache_clear()


def test_shipped_model_uses_its_geometry_head_with_a_flip_gate_and_it_helps():
    card = get_card(MODEL_NAME)
    spec = card.extra["geometry"]
    assert spec["file"] in card.files and 0 < spec["weight"] <= 1.5
    # on by default since the flip gate made flip averaging cheap: the head, and the mirror image for
    # the faces the members are unsure of; the CNN alone (no landmarks) stays one pass a member
    assert spec["default"] is True and spec["tta_flip"] is True and 0 < spec["tta_flip_below"] < 1
    clf = ExpressionClassifier()
    assert clf.uses_geometry and clf.flip_ and clf.flip_below_ == spec["tta_flip_below"]
    cnn = ExpressionClassifier(geometry=False)
    assert not cnn.uses_geometry and not cnn.flip_ and not card.extra["tta_flip"]
    # it beats the CNN alone on FER2013 test and on the shifted test renders (chosen on validation and
    # its shifted renders; each figure recorded), and its figures are the card's headline
    m = spec["metrics"]
    assert m["fer2013_test_accuracy"] > m["fer2013_test_accuracy_cnn_alone"]
    assert m["fer2013_test_accuracy"] > m["fer2013_test_accuracy_cnn_flip_alone"]
    assert m["shifted_test_accuracy"] > m["shifted_test_accuracy_cnn_alone"]
    assert card.metrics["fer2013_test_accuracy"] == m["fer2013_test_accuracy"]
    assert {"fer2013_val_accuracy", "shifted_val_accuracy"} <= set(m)


@pytest.mark.data
def test_geometry_head_on_real_fer2013_meshes(shared_data):
    """FER2013 test faces meshed as at run time: the head alone is far above chance and the fused
    model is at least as accurate as the CNN on the same faces."""
    import cv2
    from test_face_expression import _fer_sample, _run_time_crops

    from affectlens.modalities.face.detect import Detection
    from affectlens.modalities.face.mesh import FaceMesher

    images, labels = _fer_sample(shared_data, 300, split="test", seed=5)
    crops, _ = _run_time_crops(images)
    mesher = FaceMesher()
    box = Detection(box=(0.0, 0.0, 192.0, 192.0), score=1.0, keypoints=np.zeros((0, 2), np.float32))
    landmarks = np.full((len(images), 478, 3), np.nan, np.float32)
    for i, img in enumerate(images):
        big = cv2.resize(img, (192, 192), interpolation=cv2.INTER_CUBIC)
        lm = mesher(np.repeat(big[:, :, None], 3, axis=2), box)
        if lm is not None:
            landmarks[i] = lm
    mesher.close()
    ok = np.isfinite(landmarks[:, 0, 0])
    assert ok.mean() > 0.9
    clf = ExpressionClassifier(geometry=True)
    assert clf.uses_geometry  # loads the card
    head = clf.geometry_head_
    head_acc = (head.log_proba(landmarks[ok]).argmax(1) == labels[ok]).mean()
    assert head_acc > 0.4  # chance 14 %, the majority class 25 %
    cnn = ExpressionClassifier(geometry=False, flip=clf.flip_).predict(crops)
    fused = clf.predict(crops, landmarks)
    assert (fused.argmax(1) == labels).mean() >= (cnn.argmax(1) == labels).mean() - 0.01


@pytest.mark.data
def test_face_modality_passes_each_faces_mesh_to_a_head(demo_dir, monkeypatch):
    """With a classifier that uses a geometry head, the video path hands it the faces' meshes."""
    from test_face import _run

    from affectlens.modalities.face import modality as mod
    from affectlens.modalities.face.crop import crop_face

    seen = []

    class Fake:
        model_name = "fake-geometry"
        uses_geometry = True

        def predict(self, crops: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
            assert landmarks is not None and landmarks.shape == (len(crops), 478, 3)
            seen.append(shape_features(landmarks))
            p = np.full((len(crops), len(LABELS)), 0.05)
            p[:, DISGUST] = 0.7
            return p / p.sum(axis=1, keepdims=True)

    monkeypatch.setattr(mod, "_load_classifier", lambda threads=None: (Fake(), crop_face, 48))
    face, ctx = _run(demo_dir / "single_face.mp4")
    assert seen and all(np.isfinite(f).all() for f in seen)
    assert face.timeline()[0].expression["disgust"] > 0.6
