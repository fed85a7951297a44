"""Pairs of sequences for encoder-decoders (many-to-many, Tx != Ty), all offline.

Built-in ``dates``: dates written as people write them, in 8 languages and 4 lengths each, from Babel's
CLDR formats ("3 May 1979", "Donnerstag, 3. Mai 1979", "03/05/79", "jueves, 3 de mayo de 1979", ...),
to their ISO form 1979-05-03. ``DATES`` distinct dates between 1950 and 2049 (so two-digit years are
unambiguous) are drawn with a fixed seed, each written in ``RENDERINGS`` formats. en_US's short form
(5/3/79) is left out: it reads the same as Spanish's (3/5/79) with day and month swapped. Any user file:
one ``source<TAB>target`` per line, UTF-8.

The split is deterministic and by target: every distinct target (every date) goes to one of training,
validation (10%) and test (10%), so the test split holds dates the training split never saw.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np

from .labelled import read_tsv

SPLIT_SEED = 20141203
HELD_OUT = 0.1
DATES, RENDERINGS = 12_000, 3
LOCALES = ("en_GB", "en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_PT")
LENGTHS = ("short", "medium", "long", "full")
FORMATS = [(locale, length) for locale in LOCALES for length in LENGTHS if (locale, length) != ("en_US", "short")]


@dataclass
class Pairs:
    name: str
    sources: list[str]
    targets: list[str]

    def split(self) -> dict[str, tuple[list[str], list[str]]]:
        """{"train" | "valid" | "test": (sources, targets)}, by distinct target, the same on every call."""
        distinct = sorted(set(self.targets))
        order = np.random.default_rng(SPLIT_SEED).permutation(len(distinct))
        n = int(len(distinct) * HELD_OUT)
        part_of = {distinct[i]: "valid" for i in order[:n]}
        part_of.update({distinct[i]: "test" for i in order[n : 2 * n]})
        parts = {"train": ([], []), "valid": ([], []), "test": ([], [])}
        for source, target in zip(self.sources, self.targets):
            sources, targets = parts[part_of.get(target, "train")]
            sources.append(source)
            targets.append(target)
        return parts


def load_pairs(spec: str) -> Pairs:
    """``dates``, or a path to a ``source<TAB>target`` file."""
    if spec == "dates":
        return _dates()
    data = read_tsv(spec, "source", "target")
    return Pairs(data.name, data.texts, data.labels)


def _dates() -> Pairs:
    from babel.dates import format_date

    rng = np.random.default_rng(SPLIT_SEED)
    first, last = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
    days = rng.choice((last - first).days + 1, size=DATES, replace=False)
    sources, targets = [], []
    for day in sorted(days):
        date = first + datetime.timedelta(days=int(day))
        for k in rng.choice(len(FORMATS), size=RENDERINGS, replace=False):
            locale, length = FORMATS[k]
            sources.append(format_date(date, length, locale=locale))
            targets.append(date.isoformat())
    return Pairs("dates", sources, targets)
