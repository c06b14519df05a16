"""Train the best-effort speaker split (``src/affectlens/models/speaker-split/``) on RAVDESS.

Voice prints (``affectlens.segments.speakers.voice_print``) of all 1,440 clips; a standardiser
and a shrinkage-LDA projection that separates the 24 actors; an average-linkage clustering
threshold chosen by cross-validation over held-out actors: for each candidate (LDA dims,
shrinkage, threshold), the projection is fitted on 16 actors and conversations of 1-4 of
the other 8 actors are clustered (``training/voice_common.simulated_conversations``); the
setting with the lowest mean speaker error wins. The shipped projection is then fitted on
all 24 actors. Held-out figures: ``benchmarks/voice_speakers.py``.

Run: ``OMP_NUM_THREADS=1 python training/speaker_split.py`` (about a minute once the voice
prints are cached).
"""

from __future__ import annotations

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
    REPO,
    SPEAKER_FOLDS,
    fit_speaker_projection,
    load_ravdess,
    simulated_conversations,
    speaker_error,
    voice_prints,
)

log = logging.getLogger("speaker_split")
MODEL_DIR = REPO / "src" / "affectlens" / "models" / "speaker-split"
DIMS = (8, 15)
SHRINKAGE = (0.3, 0.6)
THRESHOLDS = tuple(np.round(np.arange(0.3, 1.21, 0.05), 2))
SPEAKER_COUNTS = (1, 2, 3, 4)


def cv_errors(prints: np.ndarray, actor: np.ndarray, dims: int, shrinkage: float, folds, seed: int = 0) -> np.ndarray:
    """Mean speaker error per threshold (rows) and speaker count (columns) over held-out folds."""
    from affectlens.segments.speakers import SpeakerModel

    errors = np.zeros((len(THRESHOLDS), len(SPEAKER_COUNTS)))
    for fold in folds:
        train = ~np.isin(actor, fold)
        mean, scale, proj = fit_speaker_projection(prints[train], actor[train], dims, shrinkage)
        for j, k in enumerate(SPEAKER_COUNTS):
            convs = simulated_conversations(actor, fold, k, 40, seed=seed)
            for i, thr in enumerate(THRESHOLDS):
                model = SpeakerModel(mean, scale, proj, float(thr))
                errors[i, j] += np.mean([speaker_error(truth, model.cluster(prints[rows])) for rows, truth in convs])
    return errors / len(folds)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    corpus = load_ravdess()
    prints, actor = voice_prints(corpus), corpus.actor
    best = None
    for dims, shrink in itertools.product(DIMS, SHRINKAGE):
        err = cv_errors(prints, actor, dims, shrink, SPEAKER_FOLDS)
        i = int(np.argmin(err.mean(1)))
        log.info("dims %d shrinkage %.1f: best threshold %.2f, mean error %.3f (%s)", dims, shrink, THRESHOLDS[i],
                 err[i].mean(), np.round(err[i], 3))
        if best is None or err[i].mean() < best[0]:
            best = (float(err[i].mean()), dims, shrink, float(THRESHOLDS[i]))
    _, dims, shrink, threshold = best
    mean, scale, proj = fit_speaker_projection(prints, actor, dims, shrink)
    MODEL_DIR.mkdir(parents=True, exist_ok=True)
    npz = MODEL_DIR / "projection.npz"
    np.savez(npz, mean=mean.astype(np.float32), scale=scale.astype(np.float32), projection=proj.astype(np.float32))
    results = json.loads((REPO / "benchmarks" / "results" / "voice_speakers.json").read_text()) \
        if (REPO / "benchmarks" / "results" / "voice_speakers.json").is_file() else {}
    card = {
        "name": "speaker-split",
        "task": "speaker-clustering",
        "files": {"projection.npz": hashlib.sha256(npz.read_bytes()).hexdigest()},
        "labels": [],
        "data": "RAVDESS speech (1,440 clips, 24 actors), CC BY-NC-SA 4.0",
        "licence": "CC BY-NC-SA 4.0 (inherited from RAVDESS)",
        "metrics": {f"heldout_{metric}_{k}": v for k, d in results.get("summary", {}).items() for metric, v in d.items()
                    if metric != "one_speaker_baseline_error"},
        "retrain": "OMP_NUM_THREADS=1 python training/speaker_split.py && OMP_NUM_THREADS=1 python benchmarks/voice_speakers.py",
        "file": "projection.npz",
        "dims": dims,
        "shrinkage": shrink,
        "threshold": threshold,
        "trained": dt.date.today().isoformat(),
    }
    (MODEL_DIR / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    log.info("wrote %s: dims %d shrinkage %.1f threshold %.2f", MODEL_DIR, dims, shrink, threshold)


if __name__ == "__main__":
    main()
