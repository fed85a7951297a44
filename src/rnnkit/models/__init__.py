"""Compositions of layers."""

from .language_model import LanguageModel

__all__ = ["LanguageModel"]
