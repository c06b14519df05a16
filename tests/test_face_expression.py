"""Face crop contract and the facial expression classifier."""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectlens.core.errors import ModelError
from affectlens.core.labels import LABELS, map_label
from affectlens.modalities.face.crop import CROP_SIZE, crop_face
from affectlens.modalities.face.expression import MODEL_NAME, ExpressionClassifier
from affectlens.models.registry import get_card


def _two_dots(shape=(400, 600), left=(250, 200), right=(330, 240)) -> np.ndarray:
    img = np.zeros(shape, np.uint8)
    for x, y in (left, right):
        cv2.circle(img, (x, y), 5, 255, -1)
    return img


def _dot_rows(crop: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(crop > 0.5)
    mid = crop.shape[1] / 2
    return float(ys[xs < mid].mean()), float(ys[xs >= mid].mean())


# --- crop ---------------------------------------------------------------------------------


def test_crop_levels_the_eyes_in_either_order():
    img = _two_dots()
    box = (220, 170, 150, 150)
    for eyes in (((250, 200), (330, 240)), ((330, 240), (250, 200))):
        crop = crop_face(img, box, *eyes, size=96)
        a, b = _dot_rows(crop)
        assert abs(a - b) < 1.0, (a, b)
    # without eyes there is no rotation: the right dot stays lower
    a, b = _dot_rows(crop_face(img, box, size=96))
    assert b - a > 10


def test_crop_shape_range_and_colour_input():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (120, 160), dtype=np.uint8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    a = crop_face(grey, (40, 30, 60, 60))
    b = crop_face(rgb, (40, 30, 60, 60))
    assert a.shape == (CROP_SIZE, CROP_SIZE) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    np.testing.assert_allclose(a, b, atol=1 / 255)


def test_crop_is_scale_invariant():
    """A face ten times larger (the area-averaging path) gives the same crop."""
    small = _two_dots()
    big = cv2.resize(small, None, fx=10, fy=10, interpolation=cv2.INTER_LINEAR)
    a = crop_face(small, (220, 170, 150, 150), (250, 200), (330, 240), size=64)
    b = crop_face(big, (2200, 1700, 1500, 1500), (2500, 2000), (3300, 2400), size=64)
    assert _dot_rows(a) == pytest.approx(_dot_rows(b), abs=1.0)


def test_crop_face_at_the_frame_edge_and_bad_boxes():
    img = np.full((100, 100), 200, np.uint8)
    crop = crop_face(img, (-30, -30, 60, 60))
    assert crop.shape == (CROP_SIZE, CROP_SIZE) and np.allclose(crop, 200 / 255, atol=1e-3)
    with pytest.raises(ValueError):
        crop_face(img, (10, 10, 0, 20))
    with pytest.raises(ValueError):
        crop_face(np.zeros((4, 4, 2), np.uint8), (0, 0, 2, 2))


def _fer_sample(shared_data: Path, n: int, split: str = "test", seed: int = 0):
    root = shared_data / "faces" / "fer2013"
    if not (root / "fer2013_images.zip").is_file():
        pytest.skip(f"FER2013 not found under {root}")
    with open(root / "labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == split]
    rows = [rows[i] for i in np.random.default_rng(seed).choice(len(rows), n, replace=False)]
    with zipfile.ZipFile(root / "fer2013_images.zip") as zf:
        images = [cv2.imdecode(np.frombuffer(zf.read(r["path"]), np.uint8), cv2.IMREAD_GRAYSCALE) for r in rows]
    labels = np.array([LABELS.index(map_label(r["emotion"], "fer2013")) for r in rows])
    return images, labels


def _run_time_crops(images: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """The training/run-time path: MediaPipe on a 192x192 upscale, crop_face, whole image if none."""
    mp = pytest.importorskip("mediapipe")
    crops, found = [], 0
    with mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.3) as det:
        for img in images:
            res = det.process(cv2.cvtColor(cv2.resize(img, (192, 192), interpolation=cv2.INTER_CUBIC),
                                           cv2.COLOR_GRAY2RGB))
            if not res.detections:
                crops.append(img.astype(np.float32) / 255)
                continue
            found += 1
            d = max(res.detections, key=lambda d: d.score[0]).location_data
            b, k = d.relative_bounding_box, d.relative_keypoints
            crops.append(crop_face(img, (b.xmin * 48, b.ymin * 48, b.width * 48, b.height * 48),
                                   (k[0].x * 48, k[0].y * 48), (k[1].x * 48, k[1].y * 48)))
    return np.stack(crops), found


@pytest.mark.data
def test_crop_reproduces_fer2013_framing(shared_data):
    """Re-cropping FER2013 faces from their MediaPipe box gives back roughly the original image."""
    images, _ = _fer_sample(shared_data, 60, split="train")
    crops, found = _run_time_crops(images)
    assert found >= 50
    # Single faces differ by the roll alignment and detector jitter; the framing is right when the
    # average crop matches the average FER2013 image (a wrong margin or centre would blur or shift it).
    mean_crop, mean_image = crops.mean(0), np.mean(images, axis=0) / 255
    assert np.corrcoef(mean_crop.ravel(), mean_image.ravel())[0, 1] > 0.9
    rows = slice(CROP_SIZE // 5, CROP_SIZE // 2)  # the dark eye band sits on the same rows
    assert abs(np.argmin(mean_crop[rows].mean(1)) - np.argmin(mean_image[rows].mean(1))) <= 2
    wrong = [crop_face(i, (4, 4, 30, 30)) for i in images]  # a deliberately tight, off-centre crop
    assert np.corrcoef(np.mean(wrong, 0).ravel(), mean_image.ravel())[0, 1] < 0.9


# --- classifier ---------------------------------------------------------------------------


def test_classifier_init_loads_nothing():
    clf = ExpressionClassifier("no-such-model")
    assert not hasattr(clf, "sessions_")
    with pytest.raises(ModelError):
        clf.predict(np.zeros((1, CROP_SIZE, CROP_SIZE), np.float32))


def test_shipped_card_matches_contract():
    card = get_card(MODEL_NAME)
    assert card.labels == LABELS and card.label_mapping == "fer2013"
    assert card.extra["crop_size"] == CROP_SIZE
    assert {"fer2013_test_accuracy", "fer2013_test_macro_f1"} <= set(card.metrics)


def test_predict_shapes_and_probabilities():
    clf = ExpressionClassifier(batch_size=3)
    rng = np.random.default_rng(1)
    crops = rng.random((7, CROP_SIZE, CROP_SIZE), dtype=np.float32)
    p = clf.predict(crops)
    assert p.shape == (7, len(LABELS)) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    # batching does not change results
    np.testing.assert_allclose(p, ExpressionClassifier(batch_size=256).predict(crops), atol=1e-5)
    assert clf.predict(np.zeros((0, CROP_SIZE, CROP_SIZE), np.float32)).shape == (0, len(LABELS))
    assert clf.predict(crops[0]).shape == (1, len(LABELS))
    with pytest.raises(ValueError):
        clf.predict(np.zeros((2, CROP_SIZE + 1, CROP_SIZE), np.float32))
    with pytest.raises(ValueError):
        clf.predict(np.full((1, CROP_SIZE, CROP_SIZE), np.nan, np.float32))


def _constant_model(folder: Path, logits: list[float]) -> Path:
    """A tiny model folder whose ONNX graph returns fixed logits plus the input's left-right mean difference."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    half = CROP_SIZE // 2
    nodes = [
        helper.make_node("Slice", ["x", "s0", "e0", "ax"], ["left"]),
        helper.make_node("Slice", ["x", "s1", "e1", "ax"], ["right"]),
        helper.make_node("ReduceMean", ["left"], ["lm"], keepdims=0, axes=[1, 2, 3]),
        helper.make_node("ReduceMean", ["right"], ["rm"], keepdims=0, axes=[1, 2, 3]),
        helper.make_node("Sub", ["lm", "rm"], ["d"]),
        helper.make_node("Unsqueeze", ["d", "one"], ["d2"]),
        helper.make_node("Mul", ["d2", "w"], ["dw"]),
        helper.make_node("Add", ["dw", "bias"], ["logits"]),
    ]
    init = [
        helper.make_tensor("s0", TensorProto.INT64, [1], [0]),
        helper.make_tensor("e0", TensorProto.INT64, [1], [half]),
        helper.make_tensor("s1", TensorProto.INT64, [1], [half]),
        helper.make_tensor("e1", TensorProto.INT64, [1], [CROP_SIZE]),
        helper.make_tensor("ax", TensorProto.INT64, [1], [3]),
        helper.make_tensor("one", TensorProto.INT64, [1], [1]),
        helper.make_tensor("w", TensorProto.FLOAT, [1, 7], [10.0, 0, 0, 0, 0, 0, 0]),
        helper.make_tensor("bias", TensorProto.FLOAT, [1, 7], logits),
    ]
    graph = helper.make_graph(
        nodes, "const", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, CROP_SIZE, CROP_SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 7])], init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir()
    onnx.save(model, str(folder / "m.onnx"))
    card = {"name": "tiny", "task": "face-expression", "labels": list(LABELS), "label_mapping": "fer2013",
            "files": {"m.onnx": hashlib.sha256((folder / "m.onnx").read_bytes()).hexdigest()},
            "crop_size": CROP_SIZE, "tta_flip": True}
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def test_softmax_order_and_flip_averaging(tmp_path):
    logits = [0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    folder = _constant_model(tmp_path / "tiny", logits)
    crop = np.zeros((1, CROP_SIZE, CROP_SIZE), np.float32)
    crop[:, :, : CROP_SIZE // 2] = 1.0  # left half bright: the "neutral" logit moves with the flip
    expected = np.exp(logits) / np.exp(logits).sum()
    # a symmetric crop: probabilities are the softmax of the bias, in LABELS order
    np.testing.assert_allclose(ExpressionClassifier(str(folder)).predict(np.zeros_like(crop))[0], expected,
                               atol=1e-6)
    no_flip = ExpressionClassifier(str(folder), flip=False).predict(crop)[0]
    flipped = ExpressionClassifier(str(folder), flip=True).predict(crop)[0]
    assert no_flip[0] > 0.9  # neutral logit +10
    assert ExpressionClassifier(str(folder)).predict(crop)[0] == pytest.approx(flipped)  # card's tta_flip
    mirrored = ExpressionClassifier(str(folder), flip=False).predict(crop[..., ::-1].copy())[0]
    np.testing.assert_allclose(flipped, (no_flip + mirrored) / 2, atol=1e-6)


def test_a_flip_gate_flips_only_the_faces_the_model_is_unsure_of(tmp_path):
    """``flip_below``: faces whose one-pass top probability is under the gate get exactly the full flip
    average; the others keep their one-pass probabilities, and only the unsure ones cost a second run."""
    folder = _constant_model(tmp_path / "tiny", [0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    crops = np.zeros((2, CROP_SIZE, CROP_SIZE), np.float32)
    crops[0, :, : CROP_SIZE // 2] = 1.0  # neutral logit +10: sure (top probability > 0.9)
    crops[1, :, : CROP_SIZE // 2] = 0.1  # neutral logit +1: unsure (top about 0.44), and the mirror changes it
    plain = ExpressionClassifier(str(folder), flip=False).predict(crops)
    every = ExpressionClassifier(str(folder), flip=True).predict(crops)
    assert plain[0].max() > 0.9 and plain[1].max() < 0.5
    assert not np.allclose(plain[1], every[1], atol=1e-3) and not np.allclose(plain[0], every[0], atol=1e-3)
    gated = ExpressionClassifier(str(folder), flip=True, flip_below=0.5)
    gated._load()
    runs = []
    run = gated._run
    gated._run = lambda views: runs.append(len(views)) or run(views)
    out = gated.predict(crops)
    np.testing.assert_allclose(out[0], plain[0], atol=1e-6)
    np.testing.assert_allclose(out[1], every[1], atol=1e-6)
    assert runs == [2, 1]  # both faces once, then the unsure face's mirror image
    # a card's gate is followed unless the caller decides
    card = json.loads((folder / "card.json").read_text())
    card["tta_flip_below"] = 0.5
    (folder / "card.json").write_text(json.dumps(card))
    get_card.cache_clear()
    np.testing.assert_allclose(ExpressionClassifier(str(folder)).predict(crops), out, atol=1e-6)
    np.testing.assert_allclose(ExpressionClassifier(str(folder), flip=True).predict(crops), every, atol=1e-6)
    np.testing.assert_allclose(ExpressionClassifier(str(folder), flip=False).predict(crops), plain, atol=1e-6)
    for bad in (0, -1.0, "half", True):
        card["tta_flip_below"] = bad
        (folder / "card.json").write_text(json.dumps(card))
        get_card.cache_clear()
        with pytest.raises(ModelError, match="flip gate"):
            ExpressionClassifier(str(folder)).predict(crops)
    get_card.cache_clear()


def test_an_ensemble_card_averages_its_members_softmax(tmp_path):
    a = _constant_model(tmp_path / "a", [0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    b = _constant_model(tmp_path / "b", [0.0, 0.0, 3.0, 0.0, 1.0, 0.0, 0.0])
    both = tmp_path / "both"
    both.mkdir()
    for name, folder in (("a.onnx", a), ("b.onnx", b)):
        (both / name).write_bytes((folder / "m.onnx").read_bytes())
    card = json.loads((a / "card.json").read_text())
    card["files"] = {n: hashlib.sha256((both / n).read_bytes()).hexdigest() for n in ("a.onnx", "b.onnx")}
    card["members"] = ["a.onnx", "b.onnx"]
    (both / "card.json").write_text(json.dumps(card))
    crop = np.zeros((2, CROP_SIZE, CROP_SIZE), np.float32)
    crop[0, :, : CROP_SIZE // 2] = 1.0
    for flip in (False, True):
        mean = (ExpressionClassifier(str(a), flip=flip).predict(crop)
                + ExpressionClassifier(str(b), flip=flip).predict(crop)) / 2
        np.testing.assert_allclose(ExpressionClassifier(str(both), flip=flip).predict(crop), mean, atol=1e-6)
    # a card with two networks must say which are members; a member must be a checked file
    for bad in (None, ["a.onnx", "c.onnx"], []):
        if bad is None:
            card.pop("members")
        else:
            card["members"] = bad
        (both / "card.json").write_text(json.dumps(card))
        get_card.cache_clear()
        with pytest.raises(ModelError):
            ExpressionClassifier(str(both)).predict(crop)


@pytest.mark.data
def test_accuracy_on_a_fer2013_test_sample(shared_data):
    """400 test faces through the run-time crop path: well above chance (14 %) and the 7-class prior."""
    images, labels = _fer_sample(shared_data, 400, split="test", seed=1)
    crops, _ = _run_time_crops(images)
    pred = ExpressionClassifier().predict(crops).argmax(1)
    assert (pred == labels).mean() > 0.55
    assert len(set(pred.tolist())) >= 5  # not collapsed onto a few classes


def test_training_restarts_from_an_exported_onnx(tmp_path):
    """A fresh checkout has only the ONNX file; loading it back into the network keeps the function."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
    from face_expression import ExpressionNet, load_onnx_weights, net_from_onnx

    torch.manual_seed(0)
    trained = ExpressionNet(widths=(8, 16), stem=4)
    crops = np.random.default_rng(0).integers(0, 256, (64, CROP_SIZE, CROP_SIZE), dtype=np.uint8)
    trained.train()
    for _ in range(3):  # move the BatchNorm statistics away from their defaults
        trained(torch.from_numpy(crops).float().div(255).unsqueeze(1))
    trained.eval()
    path = tmp_path / "m.onnx"
    torch.onnx.export(trained, (torch.rand(2, 1, CROP_SIZE, CROP_SIZE),), str(path), input_names=["crops"],
                      output_names=["logits"], dynamic_axes={"crops": {0: "n"}}, opset_version=17, dynamo=False)
    fresh = ExpressionNet(widths=(8, 16), stem=4)
    load_onnx_weights(fresh, path, crops)
    x = torch.from_numpy(crops[:8]).float().div(255).unsqueeze(1)
    with torch.no_grad():
        np.testing.assert_allclose(fresh.eval()(x).numpy(), trained(x).numpy(), atol=1e-4)
    with pytest.raises(ValueError, match="convs"):
        load_onnx_weights(ExpressionNet(widths=(8, 16, 32), stem=4), path, crops)
    inferred = net_from_onnx(path.read_bytes(), crops)  # the shape is read off the file (a wide teacher)
    assert inferred.architecture == {"stem": 4, "widths": [8, 16]}
    with torch.no_grad():
        np.testing.assert_allclose(inferred.eval()(x).numpy(), trained(x).numpy(), atol=1e-4)


def test_retrain_command_replays_every_cycle_as_it_ran():
    """The card's retrain commands rebuild the shipped model: each cycle's rate, precision and start."""
    pytest.importorskip("torch")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
    from face_expression import retrain_command

    cycles = [{"epochs": 22, "lr": 0.05, "init": None},  # an old cycle: no precision recorded, ran in fp32
              {"epochs": 150, "lr": 0.04, "init": "x.onnx", "precision": "bf16"}]
    first, second = retrain_command(cycles).split(" && ")[1:]
    assert retrain_command([{"epochs": 9, "lr": 0.05, "init": None, "seed": 3}]).endswith("--seed 3")
    assert first.endswith("--epochs 22 --precision fp32")
    assert "--precision" not in second and "--lr 0.04" in second
    assert second.endswith("--init src/affectlens/models/face-expression/face_expression.onnx")


def test_distillation_cycle_is_replayed_and_its_loss_measures_disagreement():
    """A distilled cycle's command names its teachers and settings; the KL term is 0 only on agreement."""
    torch = pytest.importorskip("torch")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
    from face_expression import distillation_loss, retrain_command

    cycles = [{"epochs": 22, "lr": 0.05, "init": None},
              {"epochs": 60, "lr": 0.02, "init": "x.onnx", "precision": "bf16", "mixup": 0.2,
               "teachers": [{"spec": "abc123:m.onnx", "sha256": "0"}, {"spec": "def456:m.onnx", "sha256": "1"}],
               "kd_weight": 0.7, "kd_temp": 2.0}]
    second = retrain_command(cycles).split(" && ")[2]
    assert "--teacher abc123:m.onnx --teacher def456:m.onnx --kd-weight 0.7 --kd-temp 2.0 --mixup 0.2" in second
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    same = torch.softmax(logits / 2.0, 1)
    assert float(distillation_loss(logits, same, 2.0)) == pytest.approx(0.0, abs=1e-6)
    other = torch.softmax(logits.flip(1) / 2.0, 1)
    assert float(distillation_loss(logits, other, 2.0)) > 0.1


def test_a_student_of_an_uncommitted_wide_teacher_says_how_to_build_the_teacher(tmp_path):
    """Teacher built with --widths/--out/--work: its commands come first, the student's last."""
    pytest.importorskip("torch")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
    from face_expression import REPO_ROOT, retrain_command

    out, work = REPO_ROOT / "work_data" / "wide" / "model", REPO_ROOT / "work_data" / "wide"
    teacher_cmd = retrain_command([{"epochs": 60, "lr": 0.05, "init": None, "precision": "bf16",
                                    "stem": 48, "widths": [64, 128, 256, 512]}], out, work)
    assert teacher_cmd.split(" && ")[1].endswith(
        "--epochs 60 --widths 64,128,256,512 --stem 48 --out work_data/wide/model --work work_data/wide")
    student = [{"epochs": 22, "lr": 0.05, "init": None},
               {"epochs": 80, "lr": 0.02, "init": "x.onnx", "precision": "bf16",
                "teachers": [{"spec": "work_data/wide/model/face_expression.onnx", "sha256": "0",
                              "retrain": teacher_cmd}], "kd_weight": 0.7, "kd_temp": 2.0}]
    steps = retrain_command(student).split(" && ")
    assert steps.count("python training/face_expression_data.py") == 1  # shared steps run once
    assert "--widths 64,128,256,512" in steps[1] and "--out" not in steps[-1]
    assert steps[-1].endswith("--init src/affectlens/models/face-expression/face_expression.onnx")


def test_an_interrupted_training_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    """--stop-after then --resume gives the weights of an uninterrupted run; another recipe is refused."""
    torch = pytest.importorskip("torch")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
    import face_expression as fe

    rng = np.random.default_rng(0)
    n = 700
    fake = {"crops": rng.integers(0, 256, (n, CROP_SIZE, CROP_SIZE), dtype=np.uint8),
            "labels": np.arange(n) % 7, "split": np.array(["train"] * n)}
    monkeypatch.setattr(fe, "load_cache", lambda: fake)

    def run(work, *extra):
        argv = ["--epochs", "3", "--batch", "64", "--widths", "4,8", "--stem", "4", "--precision", "fp32",
                "--threads", "1", "--mixup", "0.2", "--limit", "256", "--work", str(work), *extra]
        return fe.train(fe.build_parser().parse_args(argv))

    assert run(tmp_path / "whole")
    assert not run(tmp_path / "parts", "--stop-after", "1")
    assert not run(tmp_path / "parts", "--stop-after", "1", "--resume")
    assert run(tmp_path / "parts", "--resume")
    whole = torch.load(tmp_path / "whole" / "smoke" / "last.pt")
    parts = torch.load(tmp_path / "parts" / "smoke" / "last.pt")
    assert parts["epoch"] == 3 and [h["epoch"] for h in parts["history"]] == [1, 2, 3]
    for name, value in whole["model"].items():
        torch.testing.assert_close(parts["model"][name], value, rtol=0, atol=1e-6, msg=name)
    assert parts["cycles"][-1]["best_epoch"] == whole["cycles"][-1]["best_epoch"]
    with pytest.raises(SystemExit, match="lr"):
        run(tmp_path / "parts", "--resume", "--lr", "0.01")
    with pytest.raises(SystemExit, match="no checkpoint"):
        run(tmp_path / "none", "--resume")


def test_assembled_ensemble_folder_loads_and_keeps_each_members_history(tmp_path):
    """training/face_expression_ensemble.py writes a folder the classifier averages; cycles stay per member."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
    from face_expression_ensemble import assemble, read_member

    members = [_constant_model(tmp_path / "a", [0.0, 2.0, 0, 0, 0, 0, 1.0]),
               _constant_model(tmp_path / "b", [0.0, 0, 3.0, 0, 1.0, 0, 0])]
    for i, folder in enumerate(members):
        card = json.loads((folder / "card.json").read_text())
        card.update(cycles=[{"epochs": 10 + i, "lr": 0.05, "init": None}], retrain=f"python train.py --seed {i}")
        (folder / "card.json").write_text(json.dumps(card))
    cards = [read_member(m)[1] for m in members]
    out = tmp_path / "ensemble"
    assemble(members, cards, out, tta_flip=False, metrics={"fer2013_test_accuracy": 0.5}, validation={})
    assert out.stat().st_mode & 0o777 == 0o755
    crop = np.random.default_rng(0).random((3, CROP_SIZE, CROP_SIZE), dtype=np.float32)
    mean = np.mean([ExpressionClassifier(str(m), flip=False).predict(crop) for m in members], axis=0)
    np.testing.assert_allclose(ExpressionClassifier(str(out)).predict(crop), mean, atol=1e-6)
    card = json.loads((out / "card.json").read_text())
    assert card["members"] == ["face_expression.onnx", "face_expression_1.onnx"]
    assert card["retrain"].startswith("python train.py --seed 0 && python train.py --seed 1 && ")
    with pytest.raises(SystemExit, match="already an ensemble"):  # which of its networks?
        read_member(out)
    folder, second = read_member(out / "face_expression_1.onnx")  # one network of an ensemble
    assert folder == out and list(second["files"]) == ["face_expression_1.onnx"]
    assert second["cycles"][0]["epochs"] == 11 and second["labels"] == list(LABELS)
    with pytest.raises(SystemExit, match="not a member"):
        read_member(out / "other.onnx")
    pytest.importorskip("torch")
    from face_expression import earlier_cycles

    assert earlier_cycles(out / "face_expression_1.onnx")[0]["epochs"] == 11
    assert earlier_cycles(members[0] / "m.onnx")[0]["epochs"] == 10



def _small_conv_net(folder: Path) -> Path:
    """A float conv net with the shipped input/output contract (random weights), in its own folder."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {"w1": rng.normal(0, 0.3, (8, 1, 3, 3)), "b1": rng.normal(0, 0.1, 8),
               "w2": rng.normal(0, 0.2, (16, 8, 3, 3)), "b2": rng.normal(0, 0.1, 16),
               "wf": rng.normal(0, 0.5, (16, 7)), "bf": np.zeros(7)}
    nodes = [helper.make_node("Conv", ["crops", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["logits"])]
    graph = helper.make_graph(
        nodes, "small", [helper.make_tensor_value_info("crops", TensorProto.FLOAT, ["n", 1, CROP_SIZE, CROP_SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 7])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()])
    folder.mkdir(parents=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(folder / "m.onnx"))
    card = {"name": "small", "task": "face-expression", "labels": list(LABELS), "label_mapping": "fer2013",
            "files": {"m.onnx": hashlib.sha256((folder / "m.onnx").read_bytes()).hexdigest()},
            "crop_size": CROP_SIZE, "input": {"name": "crops"}, "tta_flip": False}
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def test_an_int8_copy_keeps_the_networks_outputs_and_is_not_quantized_twice(tmp_path):
    """--int8 members: int8 weights and activations, calibrated on other crops, close to the float net."""
    import sys

    pytest.importorskip("onnxruntime.quantization")
    import onnx

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
    from face_expression_ensemble import assemble, quantize_member, read_member

    folder, card = read_member(_small_conv_net(tmp_path / "float"))
    rng = np.random.default_rng(1)
    calibration = rng.random((128, CROP_SIZE, CROP_SIZE), dtype=np.float32)
    q_folder, q_card = quantize_member(folder, card, tmp_path / "int8", calibration)
    assert q_card["int8"] and get_card(str(q_folder)).files == q_card["files"]  # checksum of the int8 file
    assert any(n.op_type == "QLinearConv" for n in onnx.load(str(q_folder / "m.onnx")).graph.node)
    crops = rng.random((64, 1, CROP_SIZE, CROP_SIZE), dtype=np.float32)
    run = {f: onnx_logits(f / "m.onnx", crops) for f in (folder, q_folder)}
    scale = np.abs(run[folder]).mean()
    assert np.abs(run[folder] - run[q_folder]).mean() < 0.05 * scale
    with pytest.raises(SystemExit, match="already int8"):
        quantize_member(q_folder, q_card, tmp_path / "again", calibration)
    ensemble = tmp_path / "ensemble"  # an int8 ensemble says so, and so do its members read back
    assemble([q_folder, q_folder], [q_card, q_card], ensemble, tta_flip=False, metrics={}, validation={})
    assert json.loads((ensemble / "card.json").read_text())["int8"]
    assert " --int8" in json.loads((ensemble / "card.json").read_text())["retrain"]
    with pytest.raises(SystemExit, match="already int8"):
        quantize_member(*read_member(ensemble / "face_expression_1.onnx"), tmp_path / "again", calibration)


def test_a_training_cycle_refuses_to_start_from_an_int8_copy(tmp_path):
    import sys

    pytest.importorskip("onnxruntime.quantization")
    pytest.importorskip("torch")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
    from face_expression import onnx_architecture
    from face_expression_ensemble import quantize_member, read_member

    folder, card = read_member(_small_conv_net(tmp_path / "float"))
    calibration = np.random.default_rng(1).random((64, CROP_SIZE, CROP_SIZE), dtype=np.float32)
    q_folder, _ = quantize_member(folder, card, tmp_path / "int8", calibration)
    with pytest.raises(ValueError, match="int8 copy"):  # its float weights are gone
        onnx_architecture(q_folder / "m.onnx")


def onnx_logits(path: Path, crops: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"crops": crops})[0]
