"""What the int8 ONNX encoder costs in accuracy: speech emotion on RAVDESS and recognition WER.

Whether the pipeline's one shared encoder pass could run whisper-base's encoder as an int8
ONNX graph (:mod:`affectlens.modalities.voice.encoder_onnx`, ``quantize=True``) while the
shipped voice head was trained on float32 features. (It does not: it runs the float32 graph.) Measured here, speaker-independently (the 6 folds x 4
held-out actors of ``voice_ravdess``), clean condition, shared-window features as the pipeline
makes them:

* ``float_train_float_test``: the head and its test features from the float32 encoder (the
  figure ``voice_ravdess`` reports);
* ``float_train_int8_test``: the head trained on float32 features, tested on int8 features —
  what the shipped head meets at run time;
* ``int8_train_int8_test``: both from the int8 graph (a head retrained on it).

Recognition: RAVDESS says one of two known sentences in every clip, so its real speech has a
known transcript. 96 clips (4 of each actor, both sentences) laid into the pipeline's windows
go through ``affectlens.segments.asr.transcribe`` with the shared pass, once with each encoder;
word error rate against the known sentences. Encoder speed: one 29 s window, 1 and 2 threads.

Run: ``python benchmarks/voice_int8.py`` -> benchmarks/results/voice_int8.json
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

from training.voice_common import (  # noqa: E402
    FOLDS,
    fit_linear,
    load_ravdess,
    read_audio,
    score,
    select_layers,
    windowed_features,
)

SENTENCES = {"01": "kids are talking by the door", "02": "dogs are sitting by the door"}


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def _wer(ref: list[str], hyp: list[str]) -> tuple[int, int]:
    d = np.arange(len(hyp) + 1)
    for i, r in enumerate(ref, 1):
        prev, d[0] = d.copy(), i
        for j, h in enumerate(hyp, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r != h))
    return int(d[-1]), len(ref)


def recognition(corpus, encoder_kind: str) -> dict:
    from affectlens.modalities.voice import whisper_encoder
    from affectlens.modalities.voice.whisper_encoder import EncoderStates
    from affectlens.segments.asr import transcribe
    from affectlens.segments.vad import SpeechRegion

    os.environ["AFFECTLENS_ENCODER"] = encoder_kind  # numpy or int8
    whisper_encoder.runtime_encoder.cache_clear()
    rows = [i for a in range(1, 25) for i in np.flatnonzero(corpus.actor == a)[::15][:4]]
    errors = words = 0
    t0 = time.perf_counter()
    for i in rows:
        audio = read_audio(corpus.paths[i])
        tr = transcribe(audio, [SpeechRegion(0.0, len(audio) / 16_000)], language="en", states=EncoderStates(),
                        threads=1)
        sentence = SENTENCES[Path(corpus.paths[i]).stem.split("-")[4]]
        e, n = _wer(_words(sentence), _words(" ".join(p.text for p in tr.pieces)))
        errors, words = errors + e, words + n
    return {"clips": len(rows), "wer": round(errors / words, 4), "seconds": round(time.perf_counter() - t0, 1)}


def encoder_speed() -> dict:
    from affectlens.core.threads import branch_threads
    from affectlens.modalities.voice.encoder_onnx import load_onnx_encoder
    from affectlens.modalities.voice.whisper_encoder import load_encoder, window_mel

    audio = np.random.default_rng(0).standard_normal(29 * 16_000).astype(np.float32) * 0.1
    out = {}
    for name, enc in (("numpy_float32", load_encoder()), ("onnx_float32", load_onnx_encoder()),
                      ("onnx_int8", load_onnx_encoder(quantize=True))):
        mel = window_mel(enc, audio)
        for threads in (1, 2):
            with branch_threads(threads):
                enc.hidden_states(mel)
                times = []
                for _ in range(3):
                    t = time.perf_counter()
                    enc.hidden_states(mel)
                    times.append(time.perf_counter() - t)
            out[f"{name}_{threads}_threads_s"] = round(min(times), 3)
    return out


def main() -> None:
    from affectlens.models.registry import get_card, load_arrays

    card = get_card("voice-emotion")
    layers = tuple(int(v) for v in load_arrays("voice-emotion", "head.npz")["layers"])
    c_head = float(card.extra.get("C", 0.1))
    corpus = load_ravdess()
    y, actor = corpus.y, corpus.actor
    feats = {"float": windowed_features(corpus, "clean"), "int8": windowed_features(corpus, "clean", "int8")}
    accs: dict[str, list[float]] = {"float_train_float_test": [], "float_train_int8_test": [],
                                    "int8_train_int8_test": []}
    agree = []
    for fold in FOLDS:
        te = np.isin(actor, fold)
        head_f = fit_linear(select_layers(feats["float"][~te], layers), y[~te], c_head)
        head_q = fit_linear(select_layers(feats["int8"][~te], layers), y[~te], c_head)
        p_ff = head_f.proba(select_layers(feats["float"][te], layers))
        p_fq = head_f.proba(select_layers(feats["int8"][te], layers))
        accs["float_train_float_test"].append(score(y[te], p_ff).acc8)
        accs["float_train_int8_test"].append(score(y[te], p_fq).acc8)
        accs["int8_train_int8_test"].append(score(y[te], head_q.proba(select_layers(feats["int8"][te], layers))).acc8)
        agree.append(float((p_ff.argmax(1) == p_fq.argmax(1)).mean()))
    emotion = {k: {"acc8_mean": round(float(np.mean(v)), 4), "acc8_std": round(float(np.std(v)), 4),
                   "per_fold": [round(x, 4) for x in v]} for k, v in accs.items()}
    emotion["same_prediction_float_vs_int8_features"] = round(float(np.mean(agree)), 4)
    asr = {kind: recognition(corpus, kind) for kind in ("numpy", "int8")}
    write_result("voice_int8", {
        "what": "int8 ONNX whisper encoder vs the numpy float32 reference: RAVDESS 8-class speech emotion "
                "(6 folds x 4 held-out actors, clean, shared-window features, the shipped head's layers and C) "
                "and recognition WER on 96 RAVDESS clips with known sentences (shared pass, beam 1)",
        "emotion": emotion,
        "recognition_wer": {"numpy_float32": asr["numpy"], "onnx_int8": asr["int8"]},
        "encoder_29s_window": encoder_speed(),
    })


if __name__ == "__main__":
    main()
