"""Character- and word-level vocabularies with <PAD>, <EOS> and (word level only) <UNK>.

Ids 0 and 1 are <PAD> and <EOS>; a word vocabulary has <UNK> at 2. <EOS> ends a line-mode sequence and also
starts one (it is what the model sees before the first token). Word tokens are runs of word characters,
single punctuation marks and runs of white space, so ``decode(encode(text)) == text`` for any text whose
tokens are all known; unknown words become <UNK>. A character vocabulary holds every character of its
corpus and has no <UNK>: encoding a character it never saw is an error that names it.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from .. import _checks

PAD, EOS, UNK = "<PAD>", "<EOS>", "<UNK>"
WORD = re.compile(r"\w+|[^\w\s]|\s+")


class Vocabulary:
    def __init__(self, tokens, level: str):
        self.level = _checks.one_of("level", level, ("char", "word"))
        self.specials = [PAD, EOS] + ([UNK] if level == "word" else [])
        self.itos = self.specials + [t for t in tokens if t not in self.specials]
        self.stoi = {token: i for i, token in enumerate(self.itos)}
        self.pad, self.eos = self.stoi[PAD], self.stoi[EOS]
        self.unk = self.stoi.get(UNK)

    @classmethod
    def build(cls, texts, level: str, min_freq: int = 1, max_size: int | None = None) -> "Vocabulary":
        """From an iterable of texts: tokens seen at least ``min_freq`` times, the ``max_size`` most frequent
        (not counting the specials; ties broken by first appearance); every character at character level."""
        _checks.one_of("level", level, ("char", "word"))
        min_freq = _checks.positive_int("min_freq", min_freq)
        if max_size is not None:
            _checks.positive_int("max_size", max_size)
        counts = Counter()
        for text in texts:
            counts.update(cls.split(text, level))
        if level == "char":
            return cls(sorted(counts), level)
        kept = [token for token, count in counts.most_common(max_size) if count >= min_freq]
        return cls(kept, level)

    @staticmethod
    def split(text: str, level: str) -> list[str]:
        return list(text) if level == "char" else WORD.findall(text)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text`` (int64). Word level maps unknown words to <UNK>; character level refuses them."""
        return self.encode_tokens(self.split(text, self.level))

    def encode_tokens(self, tokens) -> np.ndarray:
        """Ids of tokens already split (a tagger's words or characters), by the rules of ``encode``."""
        if self.unk is None:
            unknown = sorted({t for t in tokens if t not in self.stoi})
            if unknown:
                raise ValueError(f"text has characters the model never saw: {''.join(unknown)!r}")
            return np.array([self.stoi[t] for t in tokens], dtype=np.int64)
        return np.array([self.stoi.get(t, self.unk) for t in tokens], dtype=np.int64)

    def decode(self, ids) -> str:
        """The text of ``ids``; <PAD> is dropped, <EOS> and <UNK> are written as such."""
        return "".join(self.itos[i] for i in ids if i != self.pad)

    def to_json(self) -> dict:
        return {"level": self.level, "tokens": self.itos[len(self.specials) :]}

    @classmethod
    def from_json(cls, data: dict) -> "Vocabulary":
        return cls(data["tokens"], data["level"])
