"""Compositions of layers: one model per architecture shape."""

from .classifier import SequenceClassifier
from .language_model import LanguageModel
from .piano_roll import PianoRollModel
from .seq2seq import Seq2Seq
from .tagger import SequenceTagger

__all__ = ["LanguageModel", "SequenceClassifier", "SequenceTagger", "Seq2Seq", "PianoRollModel"]
