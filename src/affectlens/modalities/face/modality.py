"""The face modality: detect, mesh, track, measure and classify every face in sampled frames.

While the video is decoded, :meth:`FaceModality.observe_frame` runs per sampled frame:
detection (:mod:`.detect`) -> mesh per face crop (:mod:`.mesh`) -> track ids (:mod:`.track`)
-> raw geometry and AU scores (:mod:`.aus`) -> aligned crop and expression probabilities (the
expression classifier, batched per frame).

Detect, then follow: the two BlazeFace detectors cost more than the mesh (about 5 ms against
4 ms per 640x360 frame), and faces move little between sampled frames. So detection runs
every ``detect_interval`` seconds, and whenever no face is being followed or one was lost; in
between, each followed face is meshed in a crop framed from its own landmarks of the frame
before. A face the detector misses at its next run but whose mesh still holds is kept, so
following never loses recall against detecting every frame. While faces are followed, the
periodic search for newcomers runs in a worker thread beside the mesh (one detector model at a
time) and its faces join at the next frame; the classifier runs in another worker beside the
next frame's mesh. Only small per-face records are kept (about 40 numbers each), never frames
or meshes, so memory does not grow with resolution; :meth:`FaceModality.timeline` returns them
as a column table (:class:`~affectlens.core.facetable.FaceTable`).

AU intensities need each face's neutral baseline, which is only known once the whole track has
been seen; :meth:`timeline`, :meth:`evidence` and :meth:`events` compute them after decoding.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from ...core.errors import ModelError
from ...core.facetable import FaceTable
from ...core.labels import LABELS, probs_dict
from ...core.types import (
    Cue,
    Evidence,
    MediaInfo,
    MediaKind,
    MicroExpression,
    Segment,
    VideoFrame,
)
from ..base import AnalysisContext, Modality, register_modality
from . import aus as au
from .detect import Detection, FaceDetector, as_rgb, same_face
from .mesh import FaceMesher, detector_style_box, eye_centres, landmark_box
from .micro import spot_micro_expressions
from .speaker import MouthPatch, attribute_speaker, mouth_patch, pixel_change
from .track import FaceTracker

log = logging.getLogger(__name__)

#: AUs at or above this intensity are cited as active cues (FACS "A", trace, is about 1).
ACTIVE_AU = 1.0
#: Head-pose range within a segment (degrees) above which head movement is cited.
HEAD_MOVEMENT_DEG = 15.0
#: Seconds between two runs of the face detector while faces are being followed.
DETECT_INTERVAL = 0.5
#: Frames that may wait for the expression classifier (each holds its RGB frame meanwhile).
MAX_PENDING_FRAMES = 8
#: Index of the neutral class: frames the classifier calls neutral anchor each face's AU baseline.
NEUTRAL = LABELS.index("neutral")


@dataclass(frozen=True, slots=True)
class _FaceRecord:
    """What is kept of one face in one frame."""

    frame_index: int
    time: float
    face_id: int
    box: tuple[float, float, float, float]
    score: float
    geometry: au.Geometry
    expression: np.ndarray | None  # [len(LABELS)] probabilities, or None without a classifier
    #: Mean grey-level change of the mouth box since the analysed frame before (NaN: the face
    #: was not there): a frozen face's pixels do not change, however its mesh wobbles.
    mouth_change: float = float("nan")

    @property
    def quality(self) -> float:
        """Detection confidence x frontalness x size: how far this frame's reading can be trusted."""
        yaw, pitch, _ = self.geometry.head_pose
        frontal = max(0.0, np.cos(np.radians(yaw))) * max(0.0, np.cos(np.radians(pitch)))
        size = min(1.0, self.geometry.iod / 30.0)  # below ~30 px between the eyes, detail is lost
        return float(self.score * frontal * size)


@dataclass(frozen=True)
class _Followed:
    """A face meshed in the last frame, to be followed into the next one."""

    score: float  # its last detection's confidence
    landmarks: np.ndarray
    slot: int | None  # its tracking mesh graph (None for a still image)


_WARNED: set[str] = set()


def _load_classifier(threads: int | None = None):
    """The expression classifier and its crop function, or (None, None, 0) if not installed."""
    try:
        from .crop import crop_face
        from .expression import CROP_SIZE, ExpressionClassifier

        return ExpressionClassifier(threads=threads), crop_face, int(CROP_SIZE)
    except Exception as e:  # missing module or model: the face stage still measures AUs
        if str(e) not in _WARNED:  # once per process, not once per file
            _WARNED.add(str(e))
            log.warning("facial expression classifier unavailable (%s); face evidence will carry AUs only", e)
        return None, None, 0


@register_modality
class FaceModality(Modality):
    """Faces: expression probabilities, action units, head pose and who is speaking.

    Parameters
    ----------
    frame_rate : float or None, default=10.0
        Frames per second to analyse; None analyses every frame (needed for micro-expressions).
    max_faces : int or None, default=8
        At most this many faces per frame (the most confident).
    min_score : float, default=0.5
        Face detection confidence threshold.
    classify : bool, default=True
        Run the expression classifier (off: AUs and pose only).
    detect_interval : float, default=0.5
        Seconds between detector runs while faces are followed by their mesh; 0 detects in
        every analysed frame.
    """

    name = "face"

    def __init__(
        self, *, frame_rate: float | None = 10.0, max_faces: int | None = 8, min_score: float = 0.5,
        classify: bool = True, detect_interval: float = DETECT_INTERVAL,
    ) -> None:
        self.frame_rate = frame_rate
        self.max_faces = max_faces
        self.min_score = min_score
        self.classify = classify
        self.detect_interval = detect_interval
        self._detector: FaceDetector | None = None
        self._mesher: FaceMesher | None = None
        self._classifier = None
        self._crop = None
        self._crop_size = 0
        self._threads = 1
        self._loaded_threads: int | None = None
        self._classify_worker: ThreadPoolExecutor | None = None
        self._detect_worker: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[Future | None, list[_FaceRecord]]] = deque()
        self._redetection: Future | None = None
        self.reset()

    def check_models(self) -> None:
        """MediaPipe carries the detector and the mesh; without it there is no face stage (the
        expression classifier has a fallback: AUs only, with a warning).

        Found, not imported: importing MediaPipe takes 0.4–0.6 s, which here would run before
        both branches start; the video branch imports it beside the audio branch's work.
        """
        import importlib.util

        if importlib.util.find_spec("mediapipe") is None:
            raise ModelError("the face modality needs MediaPipe, which is not installed; pip install mediapipe, "
                             "or leave 'face' out of the modalities")

    # --- streaming ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything seen (called by :meth:`start`)."""
        for future, _ in self._pending:  # left by a file that failed midway
            if future is not None and not future.cancel():
                future.exception()  # let it finish (its result is not wanted) before the state goes
        self._pending.clear()
        self._drop_redetection()
        self._tracker = FaceTracker()
        self._records: list[_FaceRecord] = []
        self._frame_times: list[float] = []
        self._media: MediaInfo | None = None
        self._intensity_cache: dict[int, np.ndarray] | None = None
        self._followed: list[_Followed] = []  # the faces meshed in the last frame
        self._last_detection: float | None = None
        #: The mouth pixels of the faces in the last analysed frame (face id -> patch); only those.
        self._mouth_patches: dict[int, MouthPatch] = {}
        #: Frames of the current file in which the detector ran (the rest followed the mesh).
        self.detector_runs = 0

    def start(self, media: MediaInfo, *, threads: int = 1) -> None:
        self.reset()
        self._media = media
        self._threads = threads

    def load(self, *, threads: int = 1) -> None:
        """Open the MediaPipe graphs and the expression classifier for ``threads``."""
        self._threads = threads
        self._ensure_models()

    def set_threads(self, threads: int) -> None:
        self._threads = threads  # the classifier is rebuilt for it before the next frame

    def forget_before(self, time: float) -> None:
        """Drop the records of frames before ``time`` (seconds), keeping tracking as it is.

        A live stream has no end: :mod:`affectlens.live` keeps a rolling window of records so
        that memory and the cost of judging a moment stay flat over hours. AU baselines are
        then taken over that window.
        """
        self._collect(wait_all=True)
        keep = [r for r in self._records if r.time >= time]
        if len(keep) != len(self._records):
            self._records = keep
            self._frame_times = [t for t in self._frame_times if t >= time]
            self._intensity_cache = None

    def _ensure_models(self) -> None:
        """Open the MediaPipe graphs once per instance; (re)build the classifier for the thread share."""
        if self._detector is None:
            self._detector = FaceDetector(min_score=self.min_score)
            self._mesher = FaceMesher()
        if self.classify and self._loaded_threads != self._threads:
            # The ONNX sessions are cached per thread count, so this is cheap after the first time.
            self._classifier, self._crop, self._crop_size = _load_classifier(self._threads)
            self._loaded_threads = self._threads

    def close(self) -> None:
        """Close the MediaPipe graphs (each holds threads and buffers); reopened on next use."""
        self._finished_records()
        for part in (self._detector, self._mesher):
            if part is not None:
                part.close()
        self._detector = self._mesher = None
        self._drop_redetection()
        for worker in (self._classify_worker, self._detect_worker):
            if worker is not None:
                worker.shutdown(wait=True)
        self._classify_worker = self._detect_worker = None

    @property
    def expression_model(self) -> str | None:
        """Name of the loaded expression classifier; None before the first frame or when it is unavailable."""
        if self._classifier is None:
            return None
        return str(getattr(self._classifier, "model_name", type(self._classifier).__name__))

    def observe_frame(self, frame: VideoFrame) -> None:
        """Detect, mesh, track and classify the faces of one frame; keep small records."""
        self._ensure_models()
        assert self._detector is not None and self._mesher is not None
        self._intensity_cache = None
        self._frame_times.append(float(frame.time))
        rgb = as_rgb(frame.image)
        faces, followed = [], []
        for det, slot in self._candidates(rgb, float(frame.time)):
            landmarks = self._mesher(rgb, det, slot)
            if landmarks is None:
                continue
            faces.append((det, landmarks))
            followed.append(_Followed(det.score, landmarks, slot))
        if len(faces) < len(self._followed):
            self._last_detection = None  # a followed face was lost: look again in the next frame
        self._followed = followed
        if not faces:
            self._tracker.update(frame.time, [], image=rgb)
            self._mouth_changes(rgb, [], [])  # nothing to compare the next frame's mouths with
            return
        boxes = [landmark_box(lm) for _, lm in faces]
        ids = self._tracker.update(frame.time, boxes, image=rgb, landmarks=[lm for _, lm in faces])
        changes = self._mouth_changes(rgb, ids, [lm for _, lm in faces])
        records = [
            _FaceRecord(frame_index=frame.index, time=float(frame.time), face_id=face_id, box=box,
                        score=det.score, geometry=au.geometry(lm), expression=None, mouth_change=change)
            for (det, lm), box, face_id, change in zip(faces, boxes, ids, changes, strict=True)
        ]
        future = None
        if self._classifier is not None and self._crop is not None:
            if self._classify_worker is None:
                self._classify_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="affectlens-face-classify")
            future = self._classify_worker.submit(self._expressions, self._classifier, rgb, faces)
        self._pending.append((future, records))
        self._collect(wait_oldest=len(self._pending) > MAX_PENDING_FRAMES)

    def _mouth_changes(self, image: np.ndarray, ids: list[int], landmarks: list[np.ndarray]) -> list[float]:
        """How much each face's mouth pixels changed since the analysed frame before (NaN where
        the face was not seen in it), keeping this frame's mouth patches, and only them, for the
        next one. Called for every analysed frame, with no faces too.

        Only the small grey mouth boxes are kept (frames are not): tens of microseconds a face.
        """
        kept: dict[int, MouthPatch] = {}
        changes = []
        for face_id, lm in zip(ids, landmarks, strict=True):
            before = self._mouth_patches.get(face_id)
            changes.append(pixel_change(image, before) if before is not None else float("nan"))
            patch = mouth_patch(image, lm)
            if patch is not None:
                kept[face_id] = patch
        self._mouth_patches = kept
        return changes

    def _collect(self, *, wait_oldest: bool = False, wait_all: bool = False) -> None:
        """Move the frames whose expressions are known into ``_records``, in frame order.

        The classifier runs in its own thread so that it overlaps the next frame's mesh (the
        two together use both cores once the audio branch is done); at most
        :data:`MAX_PENDING_FRAMES` frames wait for it, so a slow classifier holds a bounded
        number of frames in memory.
        """
        while self._pending:
            future, records = self._pending[0]
            if future is not None and not future.done() and not (wait_oldest or wait_all):
                return
            probs = future.result() if future is not None else None
            self._pending.popleft()
            self._records.extend(r if probs is None else replace(r, expression=probs[k]) for k, r in enumerate(records))
            wait_oldest = False

    def _finished_records(self) -> list[_FaceRecord]:
        """Every record of the file, expressions included (waits for the classifier)."""
        self._collect(wait_all=True)
        return self._records

    def _drop_redetection(self) -> None:
        """Wait for a background detection whose frame is no longer wanted, and forget it."""
        if self._redetection is not None:
            self._redetection.exception()  # it must not run on a graph that is being closed
            self._redetection = None

    def _candidates(self, rgb: np.ndarray, time: float) -> list[tuple[Detection, int | None]]:
        """Where to mesh in this frame, each with its mesh slot: the followed faces, plus the
        faces that the last detection found and nobody follows yet.

        With no face followed (the first frame, a face lost), the detector runs on this frame
        and its faces are meshed at once. While faces are followed, the periodic detection that
        looks for newcomers runs in a worker thread, beside this frame's mesh: its faces join
        at the next frame, framed from the detector's box one frame late (the mesh crop's
        margin absorbs a tenth of a second of movement). It is waited for at the next frame
        whatever the timing, so the results never depend on thread scheduling. Detection
        took about 6.4 ms against 3.8 ms for a followed face's mesh (640x360): done in
        sequence, it was the largest cost of the frames it ran in; one model at a time
        (about 1.8 or 4.6 ms) hides behind the mesh.

        A still image (no frame rate) is meshed without slots: tracking needs a frame before.
        """
        followed = [(Detection(box=detector_style_box(f.landmarks), score=f.score,
                               keypoints=np.zeros((0, 2), np.float32)), f.slot) for f in self._followed]
        video = self._media is None or self._media.kind is not MediaKind.IMAGE
        if self._redetection is not None:  # found in the frame before, beside its mesh
            found, self._redetection = self._redetection.result(), None
            return self._merge(found, followed, video)
        due = (not followed or self._last_detection is None
               or time - self._last_detection >= self.detect_interval)
        if not due:
            return followed
        self._last_detection = time
        self.detector_runs += 1
        if followed and video:
            if self._detect_worker is None:
                self._detect_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="affectlens-face-detect")
            # Newcomers are looked for with one model at a time (see FaceDetector): on frames
            # small enough for close-ups, the two take turns; larger frames keep the full-range one.
            only = self.detector_runs % 2 if self._detector.close_up(rgb.shape) else 1
            self._redetection = self._detect_worker.submit(self._detector, rgb, max_faces=self.max_faces, only=only)
            return followed
        return self._merge(self._detector(rgb, max_faces=self.max_faces), followed, video)

    def _merge(self, found: list[Detection], followed: list[tuple[Detection, int | None]],
               video: bool) -> list[tuple[Detection, int | None]]:
        """Detections and followed faces as one list: a detection that is a followed face takes
        its slot (and its box), a followed face the detector missed is kept while its mesh
        holds, and in video each new face gets a free slot."""
        out: list[tuple[Detection, int | None]] = []
        taken: set[int] = set()
        for det in found:
            slot = next((s for d, s in followed if s not in taken and same_face(d.box, det.box)), None)
            out.append((det, slot))
            if slot is not None:
                taken.add(slot)
        out += [(d, s) for d, s in followed if s not in taken and not any(same_face(d.box, o.box) for o, _ in out)]
        out = out[: self.max_faces] if self.max_faces else out
        if video:  # new faces get a free slot
            used = {s for _, s in out if s is not None}
            free = (s for s in range(len(out) + len(used)) if s not in used)
            out = [(d, s if s is not None else next(free)) for d, s in out]
        return out

    def _expressions(self, classifier, rgb, faces) -> np.ndarray:
        """Expression probabilities ``[n_faces, len(LABELS)]`` for one frame's faces (one batch).

        A classifier with a geometry head also gets each face's mesh (its shape is the second
        view the model fuses with the crop's appearance; no extra model runs for it).
        """
        crops = []
        for _, lm in faces:
            right, left = eye_centres(lm)
            crops.append(self._crop(rgb, detector_style_box(lm), tuple(map(float, left)), tuple(map(float, right)),
                                    self._crop_size))
        if getattr(classifier, "uses_geometry", False):
            probs = classifier.predict(np.stack(crops), np.stack([lm for _, lm in faces]))
        else:
            probs = classifier.predict(np.stack(crops))
        return np.asarray(probs, dtype=np.float64)

    # --- after decoding ----------------------------------------------------------------------

    def _intensities(self) -> dict[int, np.ndarray]:
        """AU intensities per record index, grouped by face track: {face_id: [n_records_of_face, n_aus]}."""
        self._finished_records()
        if self._intensity_cache is None:
            by_face: dict[int, list[int]] = defaultdict(list)
            for i, r in enumerate(self._records):
                by_face[r.face_id].append(i)
            cache = {}
            for face_id, idx in by_face.items():
                scores = np.stack([self._records[i].geometry.scores for i in idx])
                expr = [self._records[i].expression for i in idx]
                calm = None if any(e is None for e in expr) else np.array([np.argmax(e) == NEUTRAL for e in expr])
                cache[face_id] = au.intensities(scores, au.baseline(scores, calm))
            self._intensity_cache = cache
        return self._intensity_cache

    def _face_rows(self) -> dict[int, list[int]]:
        self._finished_records()
        rows: dict[int, list[int]] = defaultdict(list)
        for i, r in enumerate(self._records):
            rows[r.face_id].append(i)
        return rows

    def _record_aus(self) -> np.ndarray:
        """AU intensities ``[n_records, n_aus]``, in record order."""
        self._finished_records()
        out = np.zeros((len(self._records), len(au.AU_NAMES)))
        inten = self._intensities()
        for face_id, idx in self._face_rows().items():
            out[idx] = inten[face_id]
        return out

    def timeline(self) -> FaceTable:
        """One row per face per analysed frame, as a compact column table."""
        records = self._finished_records()
        aus = self._record_aus()
        missing = np.full(len(LABELS), np.nan)
        return FaceTable.build(
            frame_index=[r.frame_index for r in records], time=[r.time for r in records],
            face_id=[r.face_id for r in records], box=[r.box for r in records],
            detection_score=[r.score for r in records], aus=aus,
            au_names=au.AU_NAMES,
            expression=[missing if r.expression is None else r.expression for r in records],
            head_pose=[r.geometry.head_pose for r in records], mouth_open=[r.geometry.mouth_open for r in records],
        )

    def events(self) -> list[MicroExpression]:
        """Micro-expressions of every face track (needs about 15 frames/s or more)."""
        found: list[MicroExpression] = []
        inten = self._intensities()
        for face_id, idx in self._face_rows().items():
            times = [self._records[i].time for i in idx]
            found += spot_micro_expressions(face_id, times, inten[face_id])
        if not found and self.frame_rate is not None and self.frame_rate < 15:
            log.info("micro-expressions need the full frame rate; this run sampled %.1f frames/s", self.frame_rate)
        return sorted(found, key=lambda m: m.apex)

    def evidence(self, context: AnalysisContext) -> list[Evidence]:
        """One :class:`Evidence` per segment: the attributed face's expression, AUs at its peak."""
        aus_by_record = self._record_aus()
        times = np.sort(np.asarray(self._frame_times))  # ascending, even from a damaged file
        dt = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
        # Records by time, so that each segment finds its own with a binary search (a scan of
        # every record per segment took seconds on an hour of video).
        record_times = np.array([r.time for r in self._records], dtype=np.float64)
        by_time = np.argsort(record_times, kind="stable")
        sorted_times = record_times[by_time]
        out = []
        for seg in context.segments:
            lo, hi = seg.start - dt / 2, seg.end + dt / 2
            inside = np.sort(by_time[np.searchsorted(sorted_times, lo, "left"):np.searchsorted(sorted_times, hi, "right")])
            out.append(self._segment_evidence(seg, context, times, (lo, hi), inside.tolist(), aus_by_record))
        return out

    def _segment_evidence(self, seg: Segment, context: AnalysisContext, times: np.ndarray,
                          span: tuple[float, float], inside: list[int], aus_by_record: np.ndarray) -> Evidence:
        lo, hi = span
        n_frames = int(np.searchsorted(times, hi, "right") - np.searchsorted(times, lo, "left"))
        if n_frames == 0 or not inside:
            return Evidence.missing(self.name, seg.index, "no face visible")
        mouths: dict[int, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
        changes: dict[int, list[float]] = defaultdict(list)
        for i in inside:
            r = self._records[i]
            mouths[r.face_id][0].append(r.time)
            mouths[r.face_id][1].append(r.geometry.mouth_open)
            changes[r.face_id].append(r.mouth_change)
        speaker = attribute_speaker(mouths, n_frames, context.audio, context.sample_rate, changes)
        shown = speaker
        if speaker is None:  # no visible mouth speaks it: report the face seen most and best
            shown = max(mouths, key=lambda f: sum(self._records[i].quality for i in inside if self._records[i].face_id == f))
            speaker = shown if n_frames <= 1 else None  # a still: no mouth can move, the best-seen face stands for it
        rows = [i for i in inside if self._records[i].face_id == shown]
        recs = [self._records[i] for i in rows]
        weights = np.array([r.quality for r in recs]) + 1e-6
        coverage = min(1.0, len(rows) / n_frames)
        reliability = float(np.clip(coverage * float(np.mean([r.quality for r in recs])), 0.0, 1.0))

        have_probs = all(r.expression is not None for r in recs)
        probs = None
        if have_probs:
            p = np.average(np.stack([r.expression for r in recs]), axis=0, weights=weights)
            probs = probs_dict(p / p.sum())
            # Peak = the frame where the expression is strongest (least neutral), MERR-style.
            intensity = np.array([1.0 - r.expression[LABELS.index("neutral")] for r in recs])
        else:
            intensity = np.array([aus_by_record[i].sum() for i in rows])
        k = int(np.argmax(intensity * weights))
        peak = recs[k]
        cues = self._au_cues(aus_by_record[rows[k]])
        cues.append(Cue(self.name, "peak_time", round(peak.time, 2),
                        f"facial expression peaks at {peak.time:.1f} s", 0.0))
        cues += self._head_cues(recs)
        caveat = None
        if len(mouths) > 1:
            caveat = (f"{len(mouths)} faces visible; attributed to face {speaker}" if speaker is not None else
                      f"{len(mouths)} faces visible; speaker unknown (no visible mouth follows the voice); face {shown} shown")
        speaker = "unknown" if speaker is None else speaker
        if probs is None:
            return Evidence(modality=self.name, segment_index=seg.index, available=False,
                            reliability=0.0, cues=tuple(cues), speaker=str(speaker),
                            reason="facial expression classifier unavailable; action units only")
        return Evidence(
            modality=self.name, segment_index=seg.index, available=True, probs=probs,
            reliability=round(reliability, 4), cues=tuple(cues), reason=caveat,
            model=self.expression_model,
            speaker=str(speaker),
        )

    @staticmethod
    def _au_cues(values: np.ndarray, top: int = 5) -> list[Cue]:
        order = np.argsort(-values)
        cues = []
        for j in order[:top]:
            v = float(values[j])
            if v < ACTIVE_AU:
                break
            name = au.AU_NAMES[j]
            cues.append(Cue("face", name, round(v, 2), f"{au.AU_DESCRIPTIONS[name]} ({name}, {v:.1f}/5)", round(v / 5, 3)))
        return cues

    @staticmethod
    def _head_cues(recs: list[_FaceRecord]) -> list[Cue]:
        if len(recs) < 3:
            return []
        pose = np.array([r.geometry.head_pose for r in recs])
        ranges = np.ptp(pose, axis=0)
        cues = []
        for axis, what in ((0, "head turns side to side"), (1, "head nods / tilts up and down")):
            if ranges[axis] >= HEAD_MOVEMENT_DEG:
                name = ("head_yaw_range", "head_pitch_range")[axis]
                cues.append(Cue("face", name, round(float(ranges[axis]), 1),
                                f"{what} ({ranges[axis]:.0f} degrees)", 0.1))
        return cues
