"""Compositions of layers: one model per architecture shape."""

from .classifier import SequenceClassifier
from .language_model import LanguageModel

__all__ = ["LanguageModel", "SequenceClassifier"]
