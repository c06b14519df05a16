"""Words: emotion from what is said, read in conversational context.

Importing this package registers :class:`WordsModality` under ``"words"``.
"""

from .modality import WordsModality
from .predict import TextPrediction, WordAttribution, load_predictor, predict_texts

__all__ = ["WordsModality", "TextPrediction", "WordAttribution", "load_predictor", "predict_texts"]
