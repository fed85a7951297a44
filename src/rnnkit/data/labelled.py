"""Labelled texts for classifiers and conditional generators, all offline.

Built-in ``names-origin``: person names (first and last) from Faker's locale lists, labelled with the
language of their locale. Only Latin-script locales are used, so that a model must learn spelling rather
than alphabets. A name listed under more than one language (Anna, Martin, ...) is ambiguous and left out;
``LabelledTexts.dropped`` counts them. Any user file: one ``text<TAB>label`` per line, UTF-8.

The split into training, validation and test data is deterministic and stratified: each label's texts are
shuffled with a fixed seed (independent of the training seed) and 10% go to validation, 10% to test.
"""

from __future__ import annotations

import importlib
import pathlib
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from .corpus import CorpusError, _is_latin_name, read_text
from .vocab import Vocabulary

SPLIT_SEED = 20141203
HELD_OUT = 0.1  # of each label, for validation and again for test

# label: Faker locales whose person names it is made of
ORIGINS = {
    "Czech": ("cs_CZ",), "Danish": ("da_DK",), "Dutch": ("nl_NL", "nl_BE"), "English": ("en_US", "en_GB"),
    "Estonian": ("et_EE",), "Finnish": ("fi_FI",), "French": ("fr_FR", "fr_CA"), "German": ("de_DE", "de_AT"),
    "Hungarian": ("hu_HU",), "Icelandic": ("is_IS",), "Indonesian": ("id_ID",), "Italian": ("it_IT",),
    "Polish": ("pl_PL",), "Portuguese": ("pt_PT", "pt_BR"), "Romanian": ("ro_RO",), "Spanish": ("es_ES", "es_MX"),
    "Swedish": ("sv_SE",), "Turkish": ("tr_TR",),
}
NAME_LISTS = ("first_names", "first_names_male", "first_names_female", "last_names")


@dataclass
class LabelledTexts:
    name: str
    texts: list[str]
    labels: list[str]
    dropped: int = 0  # texts left out as ambiguous (seen under more than one label)

    def split(self) -> dict[str, tuple[list[str], list[str]]]:
        """{"train" | "valid" | "test": (texts, labels)}, stratified by label, the same on every call."""
        by_label = defaultdict(list)
        for i, label in enumerate(self.labels):
            by_label[label].append(i)
        parts = {"train": [], "valid": [], "test": []}
        rng = np.random.default_rng(SPLIT_SEED)
        for label in sorted(by_label):
            index = rng.permutation(by_label[label])
            n = int(len(index) * HELD_OUT)
            parts["valid"] += index[:n].tolist()
            parts["test"] += index[n : 2 * n].tolist()
            parts["train"] += index[2 * n :].tolist()
        return {part: ([self.texts[i] for i in sorted(ix)], [self.labels[i] for i in sorted(ix)])
                for part, ix in parts.items()}


def load_labelled(spec: str) -> LabelledTexts:
    """``names-origin``, or a path to a ``text<TAB>label`` file; at least two labels."""
    data = _names_origin() if spec == "names-origin" else read_tsv(spec)
    counts = Counter(data.labels)
    if len(counts) < 2:
        raise CorpusError(f"--data {spec!r} has one class only ({next(iter(counts))!r}); a classifier needs two or more")
    return data


def read_tsv(spec: str, first: str = "text", second: str = "label") -> LabelledTexts:
    """Lines ``first<TAB>second`` (text and label, or source and target); blank lines are skipped, anything
    else malformed is an error naming its line."""
    path = pathlib.Path(spec)
    if not path.is_file():
        built_in = "names-origin" if second == "label" else "dates"
        raise CorpusError(f"--data {spec!r}: no such file (built-in: {built_in}; or a {first}<TAB>{second} file)")
    texts, labels = [], []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        text, tab, label = line.rpartition("\t")
        where = f"{spec}:{number}"
        if not tab:
            raise CorpusError(f"{where}: expected {first}<TAB>{second}, got a line without a tab: {line[:40]!r}")
        if not label.strip():
            raise CorpusError(f"{where}: empty {second}")
        if not text:
            raise CorpusError(f"{where}: empty {first}")
        texts.append(text)
        labels.append(label.strip())
    if not texts:
        raise CorpusError(f"--data {spec!r}: no {first}<TAB>{second} lines in it")
    return LabelledTexts(str(path), texts, labels)


def _names_origin() -> LabelledTexts:
    origins = defaultdict(set)  # name -> the labels it is listed under
    for label, locales in ORIGINS.items():
        for locale in locales:
            provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
            for attribute in NAME_LISTS:
                values = provider.__dict__.get(attribute)
                if isinstance(values, (list, tuple, dict)):
                    for name in values:
                        if _is_latin_name(name):
                            origins[name].add(label)
    unique = sorted((name, next(iter(labels))) for name, labels in origins.items() if len(labels) == 1)
    return LabelledTexts("names-origin", [n for n, _ in unique], [label for _, label in unique],
                         dropped=len(origins) - len(unique))


def label_ids(labels: list[str], known: list[str]) -> np.ndarray:
    """Each label's index in ``known``; a label the run never saw is an error naming it."""
    index = {label: i for i, label in enumerate(known)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(f"labels never seen in training: {', '.join(map(repr, unknown[:5]))} "
                         f"(the run knows {len(known)}: {', '.join(known[:20])}{' ...' if len(known) > 20 else ''})")
    return np.array([index[label] for label in labels], dtype=np.int64)


def encode(vocab: Vocabulary, texts: list[str]) -> list[np.ndarray]:
    ids = [vocab.encode(text) for text in texts]
    empty = [text for text, seq in zip(texts, ids) if seq.size == 0]
    if empty:
        raise ValueError(f"texts must hold at least one token, got {empty[0]!r}")
    return ids


class LabelledData:
    """Labelled texts ready for a task: the split, the labels, the vocabulary, and each part's ids and
    label ids. Labels and vocabulary come from the checkpoint's ``meta`` when resuming."""

    def __init__(self, config, meta: dict | None = None):
        data = load_labelled(config.data)
        self.corpus_name, self.dropped = data.name, data.dropped
        self.parts = data.split()
        self.labels = meta["labels"] if meta is not None else sorted(set(data.labels))
        self.vocab = Vocabulary.for_run(meta and meta["vocab"], data.texts, self.parts["train"][0], config.level,
                                        config.min_freq, config.max_vocab)
        self.ids, self.y = {}, {}
        for part, (texts, labels) in self.parts.items():
            self.ids[part], self.y[part] = encode(self.vocab, texts), label_ids(labels, self.labels)
