"""Train the shipped speech-emotion head (``src/affectlens/models/voice-emotion/``) on RAVDESS.

Protocol (speaker-independent throughout):

1. Pool whisper-base hidden states 0..6 over each clip once per condition (cached in
   ``work_data/voice``): clean, white noise at 20 dB SNR, -20 dB gain, and a training
   augmentation copy (random 10-30 dB SNR noise and -25..+5 dB gain).
2. Nested cross-validation: 6 outer folds x 4 held-out actors. Inside each outer fold the
   layer set and C are chosen by leave-4-actors-out CV over the 20 training actors only, then
   refit on those 20 and scored on the 4 held-out actors (clean, noise 20 dB, -20 dB gain).
3. The final head: settings chosen by the same CV over all 24 actors, fitted on all of them;
   the softmax temperature is fitted on the out-of-fold logits of that CV.

Run: ``OMP_NUM_THREADS=1 python training/voice_emotion.py`` (about 10 minutes on 2 cores once
the features are cached; the first run extracts them, ~3 minutes per condition).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.voice_common import (  # noqa: E402
    FOLDS,
    RAVDESS_LABELS,
    REPO,
    Scores,
    cached_features,
    encoder_extractor,
    expected_calibration_error,
    fit_linear,
    fit_temperature,
    load_ravdess,
    score,
    select_layers,
    windowed_features,
)

log = logging.getLogger("voice_emotion")

LAYER_SETS: tuple[tuple[int, ...], ...] = ((2, 3, 4, 5), (1, 2, 3, 4, 5), (2, 3, 4), (3, 4, 5))
CS: tuple[float, ...] = (0.03, 0.1, 0.3)
TEST_CONDITIONS = ("clean", "noise20", "gain-20", "telephone")
MODEL_DIR = REPO / "src" / "affectlens" / "models" / "voice-emotion"


README = """# voice-emotion: speech emotion from whisper-base's middle layers

**What it does.** Given one utterance's audio, it returns probabilities over RAVDESS's eight
emotions (neutral, calm, happy, sad, angry, fearful, disgust, surprised); affectlens maps them onto
its shared labels with `core.labels.to_shared_probs(..., "ravdess")` (calm -> neutral).

**How.** Audio is brought to a fixed speech level (-20 dBFS at the 90th-percentile 20 ms frame;
level normalised: {norm}), turned into whisper's 80-band log-mel, run through the whisper-base
encoder (weights read from the CTranslate2 `model.bin` that ASR uses, run as the ONNX graph of
`affectlens/modalities/voice/encoder_onnx.py` that the pipeline runs; training features from: {encoder}),
and hidden states {layers} are mean-pooled over
the utterance and concatenated (512 numbers per layer). Features: {features}. With `window`, the
states are those of the speech-recognition pass itself: each utterance's speech, trimmed and
levelled, lies end to end with its neighbours in a 30 s window padded as whisper pads, so the
voice model costs no second encoder pass (with subtitles and no ASR, the voice modality builds
the same windows itself). Training clips are laid out the same way, with clips of the same
fold's actors (`training/voice_common.windowed_features`). A standardiser and a multinomial
logistic regression (C={c}) give class scores; dividing by the temperature {t:.3f} calibrates them.
File: `head.npz` (mean, scale, coef, intercept, labels, temperature, layers), no pickle.

**Data and licence.** RAVDESS speech: 1,440 clips, 24 professional actors (12 female, 12 male), two
sentences, two intensities (Livingstone & Russo 2018), CC BY-NC-SA 4.0. This head is trained on it
and therefore inherits **CC BY-NC-SA 4.0 (non-commercial)**. The encoder is OpenAI whisper-base (MIT).
Training augmentation (white noise 10-30 dB SNR, gain -25..+5 dB): {aug}. Telephone-band copies of the
training clips (300-3,400 Hz band-pass, 8 kHz, mu-law, back to 16 kHz; the channel of call-centre audio): {tel}.

**Held-out results** (speaker-independent: 6 folds x 4 held-out actors; {selection}; mean +- std
over folds; {date}):

| condition | 8-class accuracy | 8-class macro-F1 | 7-class accuracy (calm = neutral) | 7-class macro-F1 |
|---|---|---|---|---|
| clean | {clean_acc8_mean:.3f} +- {clean_acc8_std:.3f} | {clean_f1_8_mean:.3f} +- {clean_f1_8_std:.3f} | {clean_acc7_mean:.3f} +- {clean_acc7_std:.3f} | {clean_f1_7_mean:.3f} +- {clean_f1_7_std:.3f} |
| white noise, 20 dB SNR | {noise20_acc8_mean:.3f} +- {noise20_acc8_std:.3f} | {noise20_f1_8_mean:.3f} +- {noise20_f1_8_std:.3f} | {noise20_acc7_mean:.3f} +- {noise20_acc7_std:.3f} | {noise20_f1_7_mean:.3f} +- {noise20_f1_7_std:.3f} |
| -20 dB gain | {gain-20_acc8_mean:.3f} +- {gain-20_acc8_std:.3f} | {gain-20_f1_8_mean:.3f} +- {gain-20_f1_8_std:.3f} | {gain-20_acc7_mean:.3f} +- {gain-20_acc7_std:.3f} | {gain-20_f1_7_mean:.3f} +- {gain-20_f1_7_std:.3f} |
| telephone band (held-out actors' clips) | {telephone_acc8_mean:.3f} +- {telephone_acc8_std:.3f} | {telephone_f1_8_mean:.3f} +- {telephone_f1_8_std:.3f} | {telephone_acc7_mean:.3f} +- {telephone_acc7_std:.3f} | {telephone_f1_7_mean:.3f} +- {telephone_f1_7_std:.3f} |

Calibration: expected calibration error of out-of-fold predictions {ece0:.3f} before, {ece1:.3f}
after temperature scaling. Baseline on the same folds (eGeMAPS + RBF SVM) and per-fold figures:
`benchmarks/results/voice_ravdess.json`.

**Limits.** RAVDESS is acted, studio-quality, North-American English, two fixed sentences. On other
corpora expect much less: speech-emotion models trained on one acted corpus typically fall to
25-40 % on another (measured here for whisper features: 25-36 % on an acted corpus in another
language). The card's `reliability_scale` (0.7) tells fusion not to trust this head fully even
on long, clean speech.

**Retrain.** `OMP_NUM_THREADS=1 python training/voice_emotion.py` (features cached in
`work_data/voice/`; ~6 min per condition to extract, then ~5 min of fitting on 2 cores).
"""


def train_rows(actor: np.ndarray, actors: tuple[int, ...]) -> np.ndarray:
    return np.isin(actor, actors)


def fit_on(feats: dict[str, np.ndarray], y: np.ndarray, rows: np.ndarray, layers: tuple[int, ...], c: float,
           augment: tuple[str, ...]):
    """Fit on the clean rows plus one degraded copy of them per condition in ``augment``."""
    x = np.concatenate([select_layers(feats[cond][rows], layers) for cond in ("clean", *augment)])
    yy = np.concatenate([y[rows]] * (1 + len(augment)))
    return fit_linear(x, yy, c)


def choose(feats: dict[str, np.ndarray], y: np.ndarray, actor: np.ndarray, actors: tuple[int, ...],
           augment: tuple[str, ...]) -> tuple[tuple[int, ...], float]:
    """Pick layer set and C by leave-4-actors-out CV inside ``actors`` (clean accuracy)."""
    inner = [f for f in FOLDS if set(f) <= set(actors)]
    best, best_acc = (LAYER_SETS[0], CS[0]), -1.0
    for layers, c in itertools.product(LAYER_SETS, CS):
        correct = 0
        total = 0
        for fold in inner:
            tr = train_rows(actor, tuple(a for a in actors if a not in fold))
            te = train_rows(actor, fold)
            head = fit_on(feats, y, tr, layers, c, augment)
            correct += int((head.logits(select_layers(feats["clean"][te], layers)).argmax(1) == y[te]).sum())
            total += int(te.sum())
        acc = correct / total
        log.info("  inner %s C=%g: %.3f", layers, c, acc)
        if acc > best_acc:
            best, best_acc = (layers, c), acc
    return best


def summarise(folds: list[Scores]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key in ("acc8", "f1_8", "acc7", "f1_7"):
        vals = np.array([getattr(s, key) for s in folds])
        out[f"{key}_mean"] = round(float(vals.mean()), 4)
        out[f"{key}_std"] = round(float(vals.std()), 4)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw-level", action="store_true", help="do not normalise the level before the encoder")
    ap.add_argument("--no-augment", action="store_true", help="train on clean clips only")
    ap.add_argument("--telephone-augment", action="store_true",
                    help="also train on telephone-band copies of the training clips")
    ap.add_argument("--no-save", action="store_true", help="evaluate only; do not write the model folder")
    ap.add_argument("--results-suffix", default="", help="appended to the results file name (for experiments)")
    ap.add_argument("--fixed", default=None, help="skip inner selection: 'LAYERS:C', e.g. 2,3,4,5:0.1")
    ap.add_argument("--features", choices=("window", "clip"), default="window",
                    help="window: states pooled inside a shared 30 s window, as the ASR pass gives them "
                         "(training/voice_common.windowed_features); clip: each clip encoded alone")
    ap.add_argument("--encoder", choices=("runtime", "numpy"), default="runtime",
                    help="runtime: the encoder the pipeline runs (its ONNX graph), so the head is trained on the "
                         "features it meets; numpy: the float32 reference (window features only)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    normalise = not args.raw_level
    augment = (*(() if args.no_augment else ("aug",)), *(("telephone",) if args.telephone_augment else ()))
    feat_name = "enc-norm" if normalise else "enc-raw"
    corpus = load_ravdess()
    y, actor = corpus.y, corpus.actor
    conditions = [*TEST_CONDITIONS, *(c for c in augment if c not in TEST_CONDITIONS)]
    extractor = None
    feats: dict[str, np.ndarray] = {}
    for cond in conditions:
        if args.features == "window":
            if not normalise:
                raise SystemExit("--features window always levels each chunk; drop --raw-level")
            feats[cond] = windowed_features(corpus, cond, args.encoder)
            continue
        path = REPO / "work_data" / "voice" / f"{feat_name}-{cond}.npy"
        if not path.is_file() and extractor is None:
            extractor = encoder_extractor(normalise)
        feats[cond] = cached_features(feat_name, corpus, cond, extractor)  # type: ignore[arg-type]

    fixed = None
    if args.fixed:
        layer_txt, c_txt = args.fixed.split(":")
        fixed = (tuple(int(v) for v in layer_txt.split(",")), float(c_txt))

    per_fold: dict[str, list[Scores]] = {c: [] for c in TEST_CONDITIONS}
    chosen = []
    for k, fold in enumerate(FOLDS):
        train_actors = tuple(a for a in range(1, 25) if a not in fold)
        layers, c = fixed or choose(feats, y, actor, train_actors, augment)
        chosen.append({"fold": k, "test_actors": list(fold), "layers": list(layers), "C": c})
        head = fit_on(feats, y, train_rows(actor, train_actors), layers, c, augment)
        te = train_rows(actor, fold)
        for cond in TEST_CONDITIONS:
            s = score(y[te], head.proba(select_layers(feats[cond][te], layers)))
            per_fold[cond].append(s)
        log.info("fold %d %s C=%g: %s", k, layers, c, " ".join(f"{cond} {per_fold[cond][-1].acc8:.3f}" for cond in TEST_CONDITIONS))

    report = {
        "protocol": "RAVDESS speech, 8 classes, 6 folds x 4 held-out actors (1-4, 5-8, ... 21-24); "
                    + (f"layers and C fixed ({args.fixed}), not re-selected per fold" if fixed else
                       "layer set and C chosen inside the training actors (nested leave-4-actors-out CV)"),
        "level_normalised": normalise,
        "augmented_training": list(augment),
        "features": args.features,
        "encoder_implementation": args.encoder,
        "chosen_per_fold": chosen,
        "per_fold": {c: [s.__dict__ for s in v] for c, v in per_fold.items()},
        "summary": {c: summarise(v) for c, v in per_fold.items()},
    }
    for cond in TEST_CONDITIONS:
        log.info("%s: %s", cond, report["summary"][cond])

    # Final head: settings chosen over all 24 actors; temperature from out-of-fold logits.
    all_actors = tuple(range(1, 25))
    layers, c = fixed or choose(feats, y, actor, all_actors, augment)
    oof = np.zeros((len(y), len(RAVDESS_LABELS)))
    for fold in FOLDS:
        tr = train_rows(actor, tuple(a for a in all_actors if a not in fold))
        te = train_rows(actor, fold)
        oof[te] = fit_on(feats, y, tr, layers, c, augment).logits(select_layers(feats["clean"][te], layers))
    temperature = fit_temperature(oof, y)
    soft = lambda z: np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)  # noqa: E731
    ece_before = expected_calibration_error(soft(oof), y)
    ece_after = expected_calibration_error(soft(oof / temperature), y)
    report["final"] = {"layers": list(layers), "C": c, "temperature": round(temperature, 4),
                       "ece_out_of_fold_before": round(ece_before, 4), "ece_out_of_fold_after": round(ece_after, 4)}
    log.info("final: %s", report["final"])

    suffix = f"{'' if normalise else '_raw'}{'' if 'aug' in augment else '_noaug'}{'' if args.features == 'window' else '_clip'}"
    suffix += args.results_suffix
    out_json = REPO / "benchmarks" / "results" / f"voice_emotion_training{suffix}.json"
    report["date"] = dt.date.today().isoformat()
    report["machine"] = "2-core CPU"
    report["command"] = "python training/voice_emotion.py " + " ".join(sys.argv[1:])
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(report, indent=2))
    log.info("wrote %s", out_json)
    if args.no_save:
        return

    head = fit_on(feats, y, np.ones(len(y), bool), layers, c, augment)
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    npz = MODEL_DIR / "head.npz"
    np.savez(
        npz, mean=head.mean_.astype(np.float32), scale=head.scale_.astype(np.float32),
        coef=head.coef_.astype(np.float32), intercept=head.intercept_.astype(np.float32),
        labels=np.array(RAVDESS_LABELS), temperature=np.float32(temperature), layers=np.array(layers),
    )
    digest = hashlib.sha256(npz.read_bytes()).hexdigest()
    s = report["summary"]
    card = {
        "name": "voice-emotion",
        "task": "speech-emotion",
        "files": {"head.npz": digest},
        "labels": list(RAVDESS_LABELS),
        "label_mapping": "ravdess",
        "data": "RAVDESS speech (1,440 clips, 24 actors), CC BY-NC-SA 4.0",
        "licence": "CC BY-NC-SA 4.0 (inherited from RAVDESS); encoder: whisper-base, MIT",
        "metrics": {
            "ravdess_si_acc8": s["clean"]["acc8_mean"], "ravdess_si_acc8_std": s["clean"]["acc8_std"],
            "ravdess_si_f1_8": s["clean"]["f1_8_mean"], "ravdess_si_acc7": s["clean"]["acc7_mean"],
            "ravdess_si_f1_7": s["clean"]["f1_7_mean"], "ravdess_si_acc8_noise20db": s["noise20"]["acc8_mean"],
            "ravdess_si_acc8_gain_minus20db": s["gain-20"]["acc8_mean"],
            "ravdess_si_acc8_telephone": s["telephone"]["acc8_mean"],
            "ece_out_of_fold_calibrated": round(ece_after, 4),
        },
        "retrain": "OMP_NUM_THREADS=1 python training/voice_emotion.py " + " ".join(sys.argv[1:]),
        "encoder": "whisper-base",
        "C": c,
        "head_file": "head.npz",
        "normalise_level": normalise,
        "augmented_training": list(augment),
        "features": args.features,
        "encoder_implementation": args.encoder if args.features == "window" else "numpy",
        "reliability_scale": 0.7,
    }
    (MODEL_DIR / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (MODEL_DIR / "README.md").write_text(README.format(
        layers=", ".join(map(str, layers)), c=c, t=temperature, ece0=ece_before, ece1=ece_after,
        norm="yes" if normalise else "no", aug="yes" if "aug" in augment else "no",
        tel="yes" if "telephone" in augment else "no", features=args.features, encoder=("the same graph" if card["encoder_implementation"] == "runtime"
                                                    else "the numpy float32 reference encoder"),
        selection=(f"layers and C fixed by --fixed {args.fixed} (chosen by nested CV in an earlier release), not re-selected per fold, so slightly optimistic" if fixed
                   else "layer set and C chosen inside the training actors only"),
        **{f"{cond}_{k}": v for cond, d in s.items() for k, v in d.items()},
        date=report["date"],
    ))
    log.info("wrote %s (sha256 %s...)", MODEL_DIR, digest[:12])


if __name__ == "__main__":
    main()
