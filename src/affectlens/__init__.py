"""affectlens: what each person feels, when, and why — from face, voice and words, offline.

>>> import affectlens
>>> result = affectlens.analyze("clip.mp4")  # doctest: +SKIP
>>> result.to_pandas()  # doctest: +SKIP
"""

__version__ = "0.1.0"

from .pipeline import AnalysisOptions, Pipeline, analyze, analyze_text  # noqa: E402
from .result import Result  # noqa: E402
from .scale import FileFailure, FileResult, analyze_many  # noqa: E402

__all__ = ["analyze", "analyze_text", "analyze_many", "Pipeline", "AnalysisOptions", "Result", "FileResult",
           "FileFailure", "__version__"]
