"""MELD test: the words models as shipped, through their run-time code paths.

Scores, in one run on the 2,610 test utterances (weighted F1 is MELD's standard metric):
the encoder model (utterance + two previous turns), the same model with the context removed
at test time (ablation), the TF-IDF fallback, MELD sentiment for both; then the encoder's
throughput (utterances/s at batch 64 on 2 threads) and load time (cold: assembling the graph
with the pip package's weights into an empty cache; warm: from the cache).

    flock /tmp/affectlens-heavy.lock nice -n 5 python benchmarks/words_meld.py
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from words_common import classification, write

from affectlens.modalities.words.context import build_context
from affectlens.modalities.words.corpora import MELD_EMOTIONS, MELD_SENTIMENTS, load_meld
from affectlens.modalities.words.predict import MiniLMPredictor, TfidfPredictor

log = logging.getLogger("words_meld")


def native(preds, labels: tuple[str, ...], attr: str = "native_probs") -> np.ndarray:
    return np.array([labels.index(max(getattr(p, attr), key=getattr(p, attr).__getitem__)) for p in preds])


def timed_load(cache: str) -> float:
    from affectlens.modalities.words import encoder
    from affectlens.models import registry

    os.environ["AFFECTLENS_CACHE"] = cache
    registry.get_card.cache_clear()
    encoder.load_encoder.cache_clear()
    t0 = time.perf_counter()
    MiniLMPredictor(occlusion_words=0)
    return time.perf_counter() - t0


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    test = load_meld("test")
    ctx = build_context(test.texts, test.speakers, test.dialogues)
    figures: dict = {"n_utterances": len(test)}
    with tempfile.TemporaryDirectory() as cache:
        figures["load_seconds_cold"] = round(timed_load(cache), 3)
        figures["load_seconds_warm"] = round(timed_load(cache), 3)
    os.environ.pop("AFFECTLENS_CACHE", None)
    enc = MiniLMPredictor(occlusion_words=0)
    t0 = time.perf_counter()
    with_ctx = enc.predict(test.texts, ctx)
    seconds = time.perf_counter() - t0
    no_ctx = enc.predict(test.texts, [""] * len(test))
    figures["encoder"] = {
        "model": enc.name, "heads": enc.card.extra.get("features"),
        "emotion": classification(test.emotions, native(with_ctx, MELD_EMOTIONS), MELD_EMOTIONS),
        "sentiment": classification(test.sentiments, native(with_ctx, MELD_SENTIMENTS, "sentiment"), MELD_SENTIMENTS),
        "throughput_full_predict_utt_per_s": round(len(test) / seconds, 1),
    }
    figures["encoder_without_context_at_test_time"] = {
        "emotion": classification(test.emotions, native(no_ctx, MELD_EMOTIONS), MELD_EMOTIONS),
        "sentiment": classification(test.sentiments, native(no_ctx, MELD_SENTIMENTS, "sentiment"), MELD_SENTIMENTS),
    }
    tfidf = TfidfPredictor()
    t0 = time.perf_counter()
    tf = tfidf.predict(test.texts, [""] * len(test))
    tf_seconds = time.perf_counter() - t0
    figures["tfidf"] = {
        "model": tfidf.name,
        "emotion": classification(test.emotions, native(tf, MELD_EMOTIONS), MELD_EMOTIONS),
        "sentiment": classification(test.sentiments, native(tf, MELD_SENTIMENTS, "sentiment"), MELD_SENTIMENTS),
        "throughput_with_attributions_utt_per_s": round(len(test) / tf_seconds, 1),
    }
    # Encoder-only throughput: one graph, batch 64, 2 threads, utterance + context pairs.
    for graph, encoder in enc.encoders.items():
        t0 = time.perf_counter()
        encoder.embed(test.texts, ctx, batch_size=64)
        figures[f"throughput_{graph}_with_context_utt_per_s"] = round(len(test) / (time.perf_counter() - t0), 1)
        t0 = time.perf_counter()
        encoder.embed(test.texts, batch_size=64)
        figures[f"throughput_{graph}_alone_utt_per_s"] = round(len(test) / (time.perf_counter() - t0), 1)
    # The same LoRA graph run unmerged (its low-rank matmuls kept), as before it was folded in.
    with tempfile.TemporaryDirectory() as folder:
        from affectlens.modalities.words.encoder import MiniLMEncoder
        from affectlens.models.registry import external_path

        base = external_path("all-MiniLM-L6-v2")
        try:
            os.link(base / "model.safetensors", Path(folder) / "model.safetensors")
        except OSError:
            shutil.copyfile(base / "model.safetensors", Path(folder) / "model.safetensors")
        shutil.copyfile(enc.card.path("emotion.onnx"), Path(folder) / "emotion.onnx")
        plain = MiniLMEncoder(Path(folder) / "emotion.onnx", tokenizer=base / "tokenizer.json")
        t0 = time.perf_counter()
        plain.embed(test.texts, ctx, batch_size=64)
        figures["throughput_emotion.onnx_unmerged_lora_with_context_utt_per_s"] = round(len(test) / (time.perf_counter() - t0), 1)
    # Occlusion cost: attributions for the first 256 utterances.
    enc.occlusion_words = 6
    t0 = time.perf_counter()
    enc.predict(test.texts[:256], ctx[:256])
    figures["throughput_with_occlusion_6_words_utt_per_s"] = round(256 / (time.perf_counter() - t0), 1)
    log.info("%s", {k: v for k, v in figures.items() if not isinstance(v, dict)})
    log.info("encoder %s | tfidf %s | no ctx %s", figures["encoder"]["emotion"]["weighted_f1"],
             figures["tfidf"]["emotion"]["weighted_f1"],
             figures["encoder_without_context_at_test_time"]["emotion"]["weighted_f1"])
    write("words_meld", figures, dataset="MELD (declare-lab/MELD @ 2d2011b)", split="test")


if __name__ == "__main__":
    main()
