"""Which visible face is speaking an utterance: the mouth that moves with the voice.

AMuSE-style analysis judges each speaker on their own face, so with several faces on screen
an utterance must be attributed to one of them, or to nobody that can be seen. A speaking
mouth opens and closes with the syllables and shuts in the pauses, so for each face the series
of lip gaps (``mouth_open``, inter-ocular units) inside the segment is compared with the voice:

* **with a voice** (audio whose loudness varies), each face seen in at least
  :data:`MIN_COVERAGE` of the segment's frames gets the correlation of its lip gap with the
  voice's loudness (log RMS energy in :data:`ENERGY_WINDOW`-second windows at the same times;
  a shift of :data:`MAX_LAG` seconds either way is tried too, since picture and sound are
  rarely exactly in step). The face that follows the voice best is the speaker. Loudness and
  not mere movement decides: a face that talks without being heard (a muted second speaker, a
  side-by-side of two talking clips) moves as much as the speaker, but out of step with the
  voice. (The rule before issue #32 added 5 x the lip gap's spread to the correlation, so the
  livelier face won: 45 of 72 ordered pairs against 57 now, ``benchmarks/face_speaker.py``.)
* **without a voice** (no audio, or silence), only movement can decide: the face whose lip gap
  varies most, if it varies :data:`MOTION_RATIO` times more than the next one.

The answer is ``None`` ("unknown") rather than a guess when no visible mouth moves
(:func:`mouth_moves`), when no face follows the voice at all (best correlation below
:data:`MIN_FOLLOW`), or when without a voice no face moves clearly more than the others. With
one face on screen the answer is that face: it is the one whose expression the segment can
report.

Whether a mouth moves is also read from its pixels, when the caller measured them
(:func:`mouth_patch`, :func:`pixel_change`: the grey levels of the mouth box, compared with the
same box of the frame before). The mesh of a face that does not move at all still wobbles, so a
lip-gap threshold alone named a frozen face the speaker in 10 of 72 still composites; a frozen
picture's pixels do not change (under 0.05 grey levels), a talking mouth's change by 4 or more
at 10 frames/s, so a face whose mouth pixels stay put is never the speaker (:data:`STILL_PIXELS`).
Only used to rule faces out: as a voice-following signal (mouth-box motion energy, optical flow,
appearance distance from the track's rest) the pixels did worse than the lip gap on the
composites, so they do not score faces.

Limits, measured on side-by-side composites of the MER2023 samples: the lip gap of small,
downcast or dark faces (a few pixels of mouth) barely follows the voice at 10 frames/s (nor at
25); two of the nine clips' faces correlate about 0 with their own sound, and most wrong
answers are theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Seconds of audio around each frame whose RMS gives the voice's loudness at that frame.
ENERGY_WINDOW = 0.2
#: Largest audio-video offset (seconds) tried when following the voice, and what trying it costs.
MAX_LAG = 0.1
LAG_PENALTY = 0.05
#: A mouth moves when its lip gap spreads (90th minus 10th percentile) by at least
#: MOVING_SPREAD x (its median gap + MOUTH_FLOOR), in inter-ocular units. Relative, because the
#: mesh of a face that does not move at all (a frozen frame) still wobbles by 10-20 % of an open
#: mouth's gap, as much in absolute terms as a small face talking: measured on the composites
#: of ``benchmarks/face_speaker.py``, no talking pair is taken as still, 30 of 36 frozen ones are.
MOVING_SPREAD = 0.35
MOUTH_FLOOR = 0.05
#: A voice whose loudness (dB) spreads less than this (90th minus 10th percentile) over the
#: segment has no syllables and pauses to follow; nor does audio quieter than SILENT_RMS.
FLAT_VOICE_DB = 6.0
SILENT_RMS = 1e-3
#: Least voice-following correlation for a face to be named the speaker, and the least lead
#: over the runner-up.
MIN_FOLLOW = 0.0
MIN_LEAD = 0.0
#: Without a voice, the most moving mouth must move this many times more than the next one.
MOTION_RATIO = 2.0
#: Faces seen in less than this share of the segment's frames are not candidates (unless all are).
MIN_COVERAGE = 0.3
#: Mesh points that frame the mouth patch (MediaPipe numbering): the lip corners (61, 291), the
#: top of the upper lip (0) and the bottom of the lower lip (17); the box is widened by
#: MOUTH_MARGIN (fractions of its width; of its height above, and twice that below, where the jaw drops).
MOUTH_BOX_POINTS = (61, 291, 0, 17)
MOUTH_MARGIN = (0.15, 0.3)
#: A mouth whose pixels change by less than this between analysed frames (mean absolute
#: difference of grey levels 0-255, median over the segment) does not move. Half a grey level is
#: below the noise of any camera, so only a repeated picture stays under it: measured on
#: ``benchmarks/face_speaker.py``, frozen faces change by 0.00-0.03, talking ones by 4.2-18.7.
STILL_PIXELS = 0.5
#: Luma weights (ITU-R BT.601) to turn RGB into grey.
_GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class MouthPatch:
    """The grey pixels of one face's mouth box in one frame, kept to compare with the next frame
    (a few hundred bytes: frames themselves are not kept)."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels (end exclusive)
    pixels: np.ndarray  # [y1 - y0, x1 - x0] float32 grey levels


def _grey(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    part = np.asarray(image[y0:y1, x0:x1], dtype=np.float32)
    return part if part.ndim == 2 else part[..., :3] @ _GREY


def mouth_patch(image: np.ndarray, landmarks: np.ndarray) -> MouthPatch | None:
    """The mouth box of a face (framed by its mesh, see :data:`MOUTH_BOX_POINTS`) cut out of
    ``image`` (RGB or grey, frame pixels); None when the box falls outside the frame."""
    pts = np.asarray(landmarks)[list(MOUTH_BOX_POINTS), :2]
    (lx, ly), (hx, hy) = pts.min(axis=0), pts.max(axis=0)
    mx, my = MOUTH_MARGIN[0] * (hx - lx), MOUTH_MARGIN[1] * (hy - ly)
    h, w = image.shape[:2]
    box = (max(0, int(lx - mx)), max(0, int(ly - my)), min(w, int(np.ceil(hx + mx)) + 1), min(h, int(np.ceil(hy + 2 * my)) + 1))
    if box[2] <= box[0] or box[3] <= box[1]:
        return None
    return MouthPatch(box, _grey(image, box))


def pixel_change(image: np.ndarray, before: MouthPatch) -> float:
    """Mean absolute grey-level change of the mouth box ``before`` in ``image`` (the same box, in
    frame pixels, so that mesh wobble moves nothing); NaN when the frame no longer holds the box."""
    x0, y0, x1, y1 = before.box
    if image.shape[0] < y1 or image.shape[1] < x1:
        return float("nan")
    return float(np.mean(np.abs(_grey(image, before.box) - before.pixels)))


def pixels_still(changes: Sequence[float] | None) -> bool:
    """Whether a mouth's pixels stayed put over a segment (median change under
    :data:`STILL_PIXELS`); False when nothing was measured."""
    c = np.asarray(changes if changes is not None else (), dtype=np.float64)
    c = c[np.isfinite(c)]
    return len(c) > 0 and float(np.median(c)) < STILL_PIXELS


def audio_energy(audio, sample_rate: int, times: Sequence[float], window: float = 0.1) -> np.ndarray | None:
    """RMS energy of ``audio`` in a ``window``-second span centred at each time (None without audio)."""
    if audio is None or len(audio) == 0:
        return None
    half = max(1, int(window * sample_rate / 2))
    out = np.empty(len(times))
    for i, t in enumerate(times):
        c = int(t * sample_rate)
        chunk = np.asarray(audio[max(0, c - half): max(0, c + half)], dtype=np.float64)
        out[i] = float(np.sqrt(np.mean(np.square(chunk)))) if len(chunk) else 0.0
    return out


def voice_loudness(audio, sample_rate: int, times: Sequence[float]) -> np.ndarray | None:
    """Loudness (dB) at each time, or None when there is no voice to follow (no audio, silence,
    or a loudness that does not vary)."""
    energy = audio_energy(audio, sample_rate, times, ENERGY_WINDOW)
    if energy is None or len(energy) < 3 or float(np.max(energy)) < SILENT_RMS:
        return None
    db = 20.0 * np.log10(np.maximum(energy, SILENT_RMS / 10))
    if float(np.percentile(db, 90) - np.percentile(db, 10)) < FLAT_VOICE_DB:
        return None
    return db


def mouth_motion(values: Sequence[float]) -> float:
    """How much a mouth moves: the spread of its lip gap (90th minus 10th percentile)."""
    v = np.asarray(values, dtype=np.float64)
    return float(np.percentile(v, 90) - np.percentile(v, 10)) if len(v) >= 2 else 0.0


def mouth_moves(values: Sequence[float]) -> bool:
    """Whether a lip-gap series moves more than a still face's mesh wobbles (see :data:`MOVING_SPREAD`)."""
    v = np.asarray(values, dtype=np.float64)
    return len(v) >= 2 and mouth_motion(v) >= MOVING_SPREAD * (float(np.median(v)) + MOUTH_FLOOR)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def voice_following(times: Sequence[float], values: Sequence[float], audio, sample_rate: int) -> float | None:
    """Correlation of a lip-gap series with the voice's loudness, best over small offsets
    (each offset costs :data:`LAG_PENALTY`, so that in step wins ties); None when there is no
    voice to follow."""
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    best = None
    for lag in (0.0, -MAX_LAG, MAX_LAG):
        db = voice_loudness(audio, sample_rate, t + lag)
        if db is None:
            continue
        c = _corr(v, db) - (LAG_PENALTY if lag else 0.0)
        best = c if best is None else max(best, c)
    return best


def speaker_scores(
    mouths: Mapping[int, tuple[Sequence[float], Sequence[float]]],
    n_frames: int,
    audio=None,
    sample_rate: int = 16_000,
) -> dict[int, float]:
    """Score each face as the speaker of one segment (higher = more likely).

    Parameters
    ----------
    mouths : mapping of face id -> (times, mouth_open values)
        The face's lip gaps at the sampled frames inside the segment.
    n_frames : int
        Number of frames sampled in the segment (for coverage).
    audio : array-like [shape=(n,)], optional
        Mono audio of the whole file; enables voice-following scores.

    Returns
    -------
    dict of face id -> score: the voice-following correlation when there is a voice, else the
    mouth movement (inter-ocular units). Faces seen in few of the segment's frames are left out
    by :func:`attribute_speaker` rather than discounted here: scaling a correlation by coverage
    made a half-seen speaker lose to a fully seen face that only talked out of step
    (55 against 59 of 72 ordered pairs in ``benchmarks/face_speaker.py``).
    """
    scores: dict[int, float] = {}
    for face_id, (times, values) in mouths.items():
        follow = voice_following(times, values, audio, sample_rate) if len(values) >= 3 else None
        scores[face_id] = follow if follow is not None else mouth_motion(values)
    return scores


def attribute_speaker(
    mouths: Mapping[int, tuple[Sequence[float], Sequence[float]]],
    n_frames: int,
    audio=None,
    sample_rate: int = 16_000,
    mouth_changes: Mapping[int, Sequence[float]] | None = None,
) -> int | None:
    """The face id that speaks the segment; None when no face was seen, or when it cannot be
    told (no visible mouth moves, or nothing singles one out: see the module doc).

    ``mouth_changes``: face id -> :func:`pixel_change` of its mouth at the segment's frames
    (NaN where not measured); a face whose mouth pixels stay put (:func:`pixels_still`) is not a
    candidate. Without it, only the lip gaps decide whether a mouth moves.
    """
    if not mouths:
        return None
    if len(mouths) == 1:
        return next(iter(mouths))
    coverage = {f: len(v) / max(1, n_frames) for f, (_, v) in mouths.items()}
    candidates = {f: m for f, m in mouths.items() if coverage[f] >= MIN_COVERAGE} or dict(mouths)
    if mouth_changes is not None:
        candidates = {f: m for f, m in candidates.items() if not pixels_still(mouth_changes.get(f))}
    if not any(mouth_moves(v) for _, v in candidates.values()):
        return None
    motion = {f: mouth_motion(v) for f, (_, v) in candidates.items()}
    if len(candidates) == 1:
        return next(iter(candidates))
    longest = max(candidates.values(), key=lambda m: len(m[0]))[0]
    if voice_loudness(audio, sample_rate, longest) is not None:
        scores = speaker_scores(candidates, n_frames, audio, sample_rate)
        ranked = sorted(scores, key=scores.__getitem__, reverse=True)
        best, second = scores[ranked[0]], scores[ranked[1]]
        return ranked[0] if best >= MIN_FOLLOW and best - second >= MIN_LEAD else None
    ranked = sorted(motion, key=motion.__getitem__, reverse=True)
    return ranked[0] if motion[ranked[0]] >= MOTION_RATIO * max(motion[ranked[1]], 1e-9) else None
