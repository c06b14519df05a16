"""Face modality: detection, 478-point mesh, tracking, action units, expression, speaker, micro-expressions.

Importing this package registers :class:`FaceModality` under the name ``face``. MediaPipe is
only imported when the first frame is analysed.
"""

from .modality import FaceModality

__all__ = ["FaceModality"]
