"""Tagged sequences for taggers (many-to-many, Tx = Ty): one tag per token, all offline.

Built-in ``spaces``: English prose with its spaces removed, one tag per character, ``B`` where a word
begins and ``I`` inside one (word segmentation; the labels come from the text itself). The prose is the
help text that ships with every Python (``pydoc_data.topics``): its paragraphs, without the indented code
blocks and heading rules, cut into sentences, and sentences longer than ``MAX_CHARS`` characters into
pieces of whole words. Any user file in the CoNLL style: one ``token<TAB>tag`` per line and a blank line
between sequences; at ``--level char`` every token must be a single character.

The split into training, validation and test data is deterministic: a fixed pseudo-random 10% of the
sequences (seeded, independent of the training seed) for validation and another 10% for test.
"""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass

import numpy as np

from .corpus import CorpusError, read_text

SPLIT_SEED = 20141203
HELD_OUT = 0.1
MAX_CHARS = 100  # a built-in sequence holds at most this many characters (spaces removed)


@dataclass
class TaggedSequences:
    name: str
    tokens: list[list[str]]
    tags: list[list[str]]

    def split(self) -> dict[str, tuple[list[list[str]], list[list[str]]]]:
        """{"train" | "valid" | "test": (tokens, tags)}, the same on every call."""
        order = np.random.default_rng(SPLIT_SEED).permutation(len(self.tokens))
        n = int(len(order) * HELD_OUT)
        parts = {"valid": order[:n], "test": order[n : 2 * n], "train": order[2 * n :]}
        return {part: ([self.tokens[i] for i in sorted(ix)], [self.tags[i] for i in sorted(ix)])
                for part, ix in parts.items()}


def load_tagged(spec: str, level: str = "word") -> TaggedSequences:
    """``spaces``, or a path to a CoNLL-style ``token<TAB>tag`` file; at least 3 sequences and 2 tags."""
    data = _spaces() if spec == "spaces" else read_conll(spec, level)
    if len(data.tokens) < 3:
        raise CorpusError(f"--data {spec!r} has {len(data.tokens)} sequences; training, validation and test "
                          "need at least 3")
    tags = {tag for seq in data.tags for tag in seq}
    if len(tags) < 2:
        raise CorpusError(f"--data {spec!r} has one tag only ({next(iter(tags))!r}); a tagger needs two or more")
    return data


def read_conll(spec: str, level: str = "word") -> TaggedSequences:
    """Sequences of ``token<TAB>tag`` lines separated by blank lines; errors name the line."""
    path = pathlib.Path(spec)
    if not path.is_file():
        raise CorpusError(f"--data {spec!r}: no such file (built-in: spaces; or a token<TAB>tag file)")
    tokens, tags, seq_tokens, seq_tags = [], [], [], []
    for number, line in enumerate(read_text(path).splitlines() + [""], start=1):
        if not line.strip():
            if seq_tokens:
                tokens.append(seq_tokens)
                tags.append(seq_tags)
            seq_tokens, seq_tags = [], []
            continue
        token, tab, tag = line.rpartition("\t")
        where = f"{spec}:{number}"
        if not tab:
            raise CorpusError(f"{where}: expected token<TAB>tag, got a line without a tab: {line[:40]!r}")
        if not tag.strip():
            raise CorpusError(f"{where}: the token {token!r} has no tag")
        if not token:
            raise CorpusError(f"{where}: empty token")
        if level == "char" and len(token) != 1:
            raise CorpusError(f"{where}: --level char takes one character per line, got {token!r}")
        seq_tokens.append(token)
        seq_tags.append(tag.strip())
    return TaggedSequences(str(path), tokens, tags)


def boundary_tags(words: list[str]) -> tuple[list[str], list[str]]:
    """The characters of ``words`` without spaces, and B at each word's first character, I elsewhere."""
    chars = [c for word in words for c in word]
    tags = [t for word in words for t in ["B"] + ["I"] * (len(word) - 1)]
    return chars, tags


def _spaces() -> TaggedSequences:
    from pydoc_data.topics import topics

    pieces = []  # runs of whole words of at most MAX_CHARS characters, at least 2 words
    for key in sorted(topics):
        for sentence in _sentences(topics[key]):
            piece = []
            for word in sentence.split():
                if piece and sum(map(len, piece)) + len(word) > MAX_CHARS:
                    pieces.append(piece)
                    piece = []
                piece.append(word)
            pieces.append(piece)
    tokens, tags = zip(*(boundary_tags(piece) for piece in pieces if len(piece) >= 2))
    return TaggedSequences("spaces", list(tokens), list(tags))


def _sentences(text: str) -> list[str]:
    """The prose of a help topic: unindented paragraphs joined into lines, cut after . ! ? and :."""
    paragraphs, current = [], []
    for line in text.splitlines() + [""]:
        prose = line.strip() and not line.startswith(" ") and not re.fullmatch(r"[*=\-~^\"]+", line.strip())
        if prose:
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    return [s for p in paragraphs for s in re.split(r"(?<=[.!?:])\s+", p) if len(s.split()) >= 3]
