"""Character-, word- and symbol-level vocabularies with <PAD>, <EOS> and (word level only) <UNK>.

Ids 0 and 1 are <PAD> and <EOS>; a word vocabulary has <UNK> at 2. <EOS> ends a line-mode sequence and also
starts one (it is what the model sees before the first token). Word tokens are runs of word characters,
single punctuation marks and runs of white space, so ``decode(encode(text)) == text`` for any text whose
tokens are all known; unknown words become <UNK>. A character vocabulary holds every character of its
corpus and has no <UNK>: encoding a character it never saw is an error that names it. A symbol vocabulary
(music's event tokens) is the same for tokens written with spaces between them: ``"key=G:major G4_1 |"``.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from .. import _checks

PAD, EOS, UNK = "<PAD>", "<EOS>", "<UNK>"
WORD = re.compile(r"\w+|[^\w\s]|\s+")
LEVELS = ("char", "word", "symbol")


class Vocabulary:
    def __init__(self, tokens, level: str):
        self.level = _checks.one_of("level", level, LEVELS)
        self.specials = [PAD, EOS] + ([UNK] if level == "word" else [])
        self.itos = self.specials + [t for t in tokens if t not in self.specials]
        self.stoi = {token: i for i, token in enumerate(self.itos)}
        self.pad, self.eos = self.stoi[PAD], self.stoi[EOS]
        self.unk = self.stoi.get(UNK)

    @classmethod
    def for_run(cls, saved, everything, train, level: str, min_freq: int = 1,
                max_size: int | None = None) -> "Vocabulary":
        """A task's vocabulary: ``saved`` (the JSON a checkpoint holds), when resuming or using a run, as it was;
        else built from every text of the data (``everything``) at character level or as symbols, and from
        the training split's texts alone (``train``) at word level, so that validation meets <UNK> as new
        text would."""
        if saved is not None:
            return cls.from_json(saved)
        return cls.build(train if level == "word" else everything, level, min_freq, max_size)

    @classmethod
    def build(cls, texts, level: str, min_freq: int = 1, max_size: int | None = None) -> "Vocabulary":
        """From an iterable of texts (or of token lists, already split): tokens seen at least ``min_freq``
        times, the ``max_size`` most frequent (not counting the specials; ties broken by first appearance);
        every character at character level."""
        _checks.one_of("level", level, LEVELS)
        min_freq = _checks.positive_int("min_freq", min_freq)
        if max_size is not None:
            _checks.positive_int("max_size", max_size)
        counts = Counter()
        for text in texts:
            counts.update(cls.split(text, level) if isinstance(text, str) else text)
        if level == "char":
            return cls(sorted(counts), level)
        if level == "symbol":
            return cls([token for token, _ in counts.most_common()], level)
        kept = [token for token, count in counts.most_common(max_size) if count >= min_freq]
        return cls(kept, level)

    @staticmethod
    def split(text: str, level: str) -> list[str]:
        if level == "symbol":
            return text.split()
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
            if unknown and self.level == "symbol":
                raise ValueError(f"tokens the model never saw: {' '.join(unknown[:10])}")
            if unknown:
                raise ValueError(f"text has characters the model never saw: {''.join(unknown)!r}")
            return np.array([self.stoi[t] for t in tokens], dtype=np.int64)
        return np.array([self.stoi.get(t, self.unk) for t in tokens], dtype=np.int64)

    def decode(self, ids) -> str:
        """The text of ``ids``; <PAD> is dropped, <EOS> and <UNK> are written as such."""
        return self.joined(*(self.itos[i] for i in ids if i != self.pad))

    def joined(self, *texts: str) -> str:
        """Texts one after the other: with a space between symbols, as they are otherwise."""
        return " ".join(t for t in texts if t) if self.level == "symbol" else "".join(texts)

    def to_json(self) -> dict:
        return {"level": self.level, "tokens": self.itos[len(self.specials) :]}

    @classmethod
    def from_json(cls, data: dict) -> "Vocabulary":
        return cls(data["tokens"], data["level"])
