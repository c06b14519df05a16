"""Best-effort speaker split without subtitles: held-out RAVDESS actors in simulated conversations.

For each of 3 folds of 8 held-out actors, the LDA shrinkage and clustering threshold are
chosen by the inner cross-validation of ``training/speaker_split.py`` over the other 16 actors
only (two halves of 8, hence 7 LDA dimensions here against 15 in the shipped model, which is
fitted on all 24), the projection is refitted on those 16, and 100
conversations of 12 turns by 1, 2, 3 and 4 of the held-out actors are clustered. Speaker error =
share of turns with the wrong speaker under the best one-to-one mapping; baseline = every turn
given to one speaker. Also: how often the number of speakers is found exactly.

Run: ``OMP_NUM_THREADS=1 python benchmarks/voice_speakers.py`` -> ``benchmarks/results/voice_speakers.json``.
"""

from __future__ import annotations

import itertools
import logging
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from benchmarks._common import write_result  # noqa: E402
from training.speaker_split import SHRINKAGE, SPEAKER_COUNTS, THRESHOLDS, cv_errors  # noqa: E402
from training.voice_common import (  # noqa: E402
    SPEAKER_FOLDS,
    fit_speaker_projection,
    load_ravdess,
    simulated_conversations,
    speaker_error,
    voice_prints,
)

log = logging.getLogger("voice_speakers")
#: LDA dimensions the inner folds (8 actors each) can support.
INNER_DIMS = 7


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from affectlens.segments.speakers import SpeakerModel

    corpus = load_ravdess()
    prints, actor = voice_prints(corpus), corpus.actor
    errors = {k: [] for k in SPEAKER_COUNTS}
    baseline = {k: [] for k in SPEAKER_COUNTS}
    count_right = {k: [] for k in SPEAKER_COUNTS}
    chosen = []
    for fold in SPEAKER_FOLDS:
        train_actors = [a for a in range(1, 25) if a not in fold]
        inner = (tuple(train_actors[:8]), tuple(train_actors[8:]))
        train = ~np.isin(actor, fold)
        best = None
        for dims, shrink in itertools.product((INNER_DIMS,), SHRINKAGE):
            err = cv_errors(prints[train], actor[train], dims, shrink, inner, seed=7)
            i = int(np.argmin(err.mean(1)))
            if best is None or err[i].mean() < best[0]:
                best = (float(err[i].mean()), dims, shrink, float(THRESHOLDS[i]))
        _, dims, shrink, thr = best
        chosen.append({"held_out": list(fold), "dims": dims, "shrinkage": shrink, "threshold": thr})
        model = SpeakerModel(*fit_speaker_projection(prints[train], actor[train], dims, shrink), thr)
        for k in SPEAKER_COUNTS:
            for rows, truth in simulated_conversations(actor, fold, k, 100, seed=99):
                found = model.cluster(prints[rows])
                errors[k].append(speaker_error(truth, found))
                baseline[k].append(speaker_error(truth, np.zeros_like(truth)))
                count_right[k].append(float(found.max() + 1 == k))
        log.info("fold %s: %s", fold, chosen[-1])
    summary = {f"{k}_speakers": {"speaker_error": round(float(np.mean(errors[k])), 4),
                                 "one_speaker_baseline_error": round(float(np.mean(baseline[k])), 4),
                                 "count_exact": round(float(np.mean(count_right[k])), 4)} for k in SPEAKER_COUNTS}
    for k, v in summary.items():
        log.info("%s: %s", k, v)
    write_result("voice_speakers", {
        "benchmark": "voice_speakers",
        "dataset": "RAVDESS speech, 24 actors (../shared/data/speech/ravdess)",
        "protocol": "3 folds x 8 held-out actors; projection and threshold chosen on the other 16 (inner 2 x 8); "
                    "100 simulated conversations of 12 turns per speaker count and fold; clips of one actor span "
                    "all 8 acted emotions",
        "system": "log-mel band mean+std voice prints, shrinkage LDA, average-linkage cosine clustering "
                  "(affectlens.segments.speakers)",
        "chosen_per_fold": chosen,
        "summary": summary,
        "command": "OMP_NUM_THREADS=1 python benchmarks/voice_speakers.py",
    })


if __name__ == "__main__":
    main()
