"""Corpora, all offline: a UTF-8 text file or directory, or a built-in loaded from installed packages.

Built-ins:
  names          person first names in Latin script from Faker's locale lists, deduplicated and sorted,
                 one per line (like the course's dinosaur names); read line by line.
  python-source  the running interpreter's standard-library ``.py`` files (tests and site-packages left
                 out), a multi-megabyte text read as one stream.

The split into training and validation data is deterministic: line corpora hold out a fixed pseudo-random
10% of their lines (seeded, independent of the training seed), streams their last 10%.
"""

from __future__ import annotations

import importlib
import pathlib
import pkgutil
import sysconfig
import unicodedata
from dataclasses import dataclass

import numpy as np

BUILT_INS = ("names", "python-source")
VALID_FRACTION = 0.1
SPLIT_SEED = 20141203


class CorpusError(ValueError):
    """A corpus that cannot be used: missing, empty, binary or not UTF-8."""


@dataclass
class Corpus:
    name: str
    text: str
    mode: str  # "lines" or "stream": how the corpus is read unless told otherwise

    @property
    def lines(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.strip()]

    def split(self, mode: str) -> tuple[list[str], list[str]] | tuple[str, str]:
        """(train, valid): lists of lines in line mode, strings in stream mode."""
        if mode == "lines":
            lines = self.lines
            if len(lines) < 2:
                raise CorpusError(f"corpus {self.name!r} needs at least 2 non-empty lines, got {len(lines)}")
            order = np.random.default_rng(SPLIT_SEED).permutation(len(lines))
            n_valid = max(1, int(len(lines) * VALID_FRACTION))
            return [lines[i] for i in sorted(order[n_valid:])], [lines[i] for i in sorted(order[:n_valid])]
        cut = int(len(self.text) * (1 - VALID_FRACTION))
        return self.text[:cut], self.text[cut:]


def load_corpus(spec: str) -> Corpus:
    """``names``, ``python-source`` or a path to a UTF-8 text file or a directory of them."""
    if spec == "names":
        return Corpus("names", "\n".join(_faker_names()) + "\n", "lines")
    if spec == "python-source":
        return Corpus("python-source", _python_source(), "stream")
    path = pathlib.Path(spec)
    if not path.exists():
        raise CorpusError(f"--data {spec!r}: no such file or directory (built-ins: {', '.join(BUILT_INS)})")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    text = "".join(read_text(p) for p in files)
    if not text.strip():
        raise CorpusError(f"--data {spec!r}: no text in it (empty)")
    return Corpus(str(path), text, "stream")


def read_text(path: pathlib.Path) -> str:
    """A file's text, refusing binary (NUL bytes) and non-UTF-8 content with a message naming the file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CorpusError(f"cannot read {str(path)!r}: {error.strerror}") from None
    if b"\0" in data:
        raise CorpusError(f"{str(path)!r} is a binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorpusError(f"{str(path)!r} is not UTF-8 text (byte {error.start})") from None


def _is_latin_name(name: str) -> bool:
    return bool(name) and all(c.isalpha() and "LATIN" in unicodedata.name(c, "") for c in name)


def _faker_names() -> list[str]:
    import faker.providers.person as person

    names = set()
    for module in pkgutil.iter_modules(person.__path__):
        provider = getattr(importlib.import_module(f"{person.__name__}.{module.name}"), "Provider", None)
        for attribute in ("first_names", "first_names_male", "first_names_female"):
            values = provider.__dict__.get(attribute) if provider is not None else None
            if isinstance(values, (list, tuple, dict)):
                names.update(name for name in values if _is_latin_name(name))
    return sorted(names)


def _python_source() -> str:
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "site-packages", "idle_test", "__pycache__"}
    files = sorted(p for p in root.rglob("*.py") if not skip & set(p.relative_to(root).parts))
    texts = []
    for path in files:
        try:
            texts.append(read_text(path))
        except CorpusError:
            continue  # a handful of stdlib files are deliberately not UTF-8
    return "".join(texts)
