"""Vocabularies and tokenizers, corpora, batching."""

from .batching import LineBatches, StreamBatches
from .corpus import Corpus, CorpusError, load_corpus
from .vocab import EOS, PAD, UNK, Vocabulary

__all__ = ["Vocabulary", "PAD", "EOS", "UNK", "Corpus", "CorpusError", "load_corpus", "LineBatches", "StreamBatches"]
