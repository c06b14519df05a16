"""The expression model's geometry head: the face mesh's shape -> expression probabilities.

The CNN reads appearance from a 48x48 grey crop, which is what changes most between sources
(resolution, lighting, JPEG, camera). The shape of the face — where the brows, lids, lip
corners and nose wings sit relative to the skull — is what a posed expression shares across
datasets, and it is what separates disgust (nose wrinkled, upper lip raised: AU9/10) from anger
(brows lowered, lids tightened, lips pressed: AU4/5/7/23). So the expression model has a second
head that reads only the 478-point MediaPipe mesh the face modality computes anyway, and its
log-probabilities are added to the CNN's with a weight chosen on a shifted validation split
(see the model card).

Features (:func:`shape_features`): every landmark rotated into the face's own frame (x from
the right to the left eye-corner midpoints; y from the forehead top (10) to the subnasale (2),
orthogonalised; z their cross product), centred between the eyes and divided by the
inter-ocular distance, then the (x, y) of each point: 956 numbers that do not change with the
face's size, position, roll or moderate yaw/pitch. The frame is the one
:func:`affectlens.modalities.face.aus.face_frame` uses for the action units; it is repeated
here so that the head's features stay fixed whatever the AU code does next (the head was
trained on them).

Head: a one-hidden-layer network (ReLU) stored as plain arrays in an ``.npz`` file with the
input standardisation folded into the first layer; numpy runs it in microseconds per face.
"""

from __future__ import annotations

import numpy as np

__all__ = ["N_FEATURES", "GeometryHead", "frontal_landmarks", "shape_features"]

N_LANDMARKS = 478
N_FEATURES = 2 * N_LANDMARKS


def _mesh_points(landmarks: np.ndarray) -> np.ndarray:
    p = np.asarray(landmarks, dtype=np.float64)
    if p.shape[-2] < N_LANDMARKS or p.shape[-1] != 3:
        raise ValueError(f"landmarks must be [..., 478, 3] (the mesh with irises); got {p.shape}")
    return p[..., :N_LANDMARKS, :]


def _face_axes(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(origin, x axis, y axis, inter-ocular distance ``[..., 1]``) of meshes ``p [..., 478, 3]``."""
    r_eye = (p[..., 33, :] + p[..., 133, :]) / 2
    l_eye = (p[..., 263, :] + p[..., 362, :]) / 2
    d = l_eye - r_eye
    iod = np.maximum(np.sqrt(np.einsum("...i,...i->...", d, d)), 1e-9)[..., None]
    ex = d / iod
    v = p[..., 2, :] - p[..., 10, :]
    ey = v - np.einsum("...i,...i->...", v, ex)[..., None] * ex
    ey = ey / np.maximum(np.sqrt(np.einsum("...i,...i->...", ey, ey)), 1e-9)[..., None]
    return (r_eye + l_eye) / 2, ex, ey, iod


def frontal_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks ``[..., 478, 3]`` in the face's own frame, in inter-ocular distances (float64)."""
    p = _mesh_points(landmarks)
    origin, ex, ey, iod = _face_axes(p)
    rot = np.stack([ex, ey, np.cross(ex, ey)], axis=-1)  # columns are the face's axes
    return np.matmul(p - origin[..., None, :], rot) / iod[..., None, :]


def shape_features(landmarks: np.ndarray) -> np.ndarray:
    """The head's input ``[..., N_FEATURES]`` (float32): frontal (x, y) of every landmark.

    :func:`frontal_landmarks`'s first two columns, computed without the depth axis and with
    ``einsum`` instead of stacked 3x3 matrix products (the same numbers on FER2013's meshes): the
    video path calls it once a face a frame, where it took twice as long.
    """
    p = _mesh_points(landmarks)
    origin, ex, ey, iod = _face_axes(p)
    q = np.einsum("...pi,...ij->...pj", p - origin[..., None, :], np.stack([ex, ey], axis=-1) / iod[..., None])
    return q.reshape(*q.shape[:-2], N_FEATURES).astype(np.float32)


class GeometryHead:
    """Log-probabilities over the shared labels from mesh landmarks.

    Parameters
    ----------
    arrays : dict
        ``w1 [N_FEATURES, H]``, ``b1 [H]``, ``w2 [H, 7]``, ``b2 [7]`` (standardisation folded
        into ``w1``/``b1``), as :func:`affectlens.models.registry.load_arrays` returns them.
    """

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        try:
            self.w1 = np.asarray(arrays["w1"], np.float32)
            self.b1 = np.asarray(arrays["b1"], np.float32)
            self.w2 = np.asarray(arrays["w2"], np.float32)
            self.b2 = np.asarray(arrays["b2"], np.float32)
        except KeyError as e:
            raise ValueError(f"geometry head arrays lack {e}") from e
        if self.w1.shape[0] != N_FEATURES or self.w1.shape[1] != self.b1.shape[0] or self.w2.shape[0] != self.w1.shape[1]:
            raise ValueError(f"geometry head shapes do not chain: w1 {self.w1.shape}, b1 {self.b1.shape}, "
                             f"w2 {self.w2.shape} (input must be {N_FEATURES})")

    def log_proba(self, landmarks: np.ndarray) -> np.ndarray:
        """``[N, 7]`` log-probabilities (float64) for landmarks ``[N, 478, 3]``."""
        x = shape_features(landmarks)
        h = np.maximum(x @ self.w1 + self.b1, 0.0)
        z = (h @ self.w2 + self.b2).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
