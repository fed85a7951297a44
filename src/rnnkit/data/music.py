"""Music corpora, all offline: scores from music21's bundled corpus, or a folder of the user's own files.

    chorales   J. S. Bach's 371 four-part chorales (Riemenschneider's numbering), MusicXML
    folk       O'Neill's Music of Ireland (1850): Irish tunes in ABC notation (2,009 monophonic pieces as
               music21 reads them), the kind of data folk-rnn learned from
    DIR        every .mid/.midi/.mxl/.musicxml/.xml/.abc/.krn file under DIR

A file holding several pieces (an ABC collection) gives each of them. Each piece is encoded (see
``music_encodings``): event tokens, or a piano roll on a grid of quarter notes (a quarter note for the
chorales, as the JSB Chorales benchmark has them; a sixteenth otherwise). A file that does not parse, and a
piece with nothing in it, is skipped and counted, never fatal. Parsing runs in two processes with a progress
bar, and the encoded corpus is cached as JSON under ``$RNNKIT_CACHE`` (default ``~/.cache/rnnkit``) keyed by
the corpus (for a folder: its path and every file's size and time), the encoding and the grid, so a second
run starts at once. The cache is written atomically (two runs building it at once each write a whole file),
and one that cannot be read is rebuilt.

The split into training, validation and test pieces is fixed (80/10/10, seeded, independent of the
training seed).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from ..files import write_atomic
from .music_encodings import KEYS, is_note_token, melody_events, piano_roll

BUILT_INS = ("chorales", "folk")
ENCODINGS = ("events", "pianoroll")
SUFFIXES = (".mid", ".midi", ".mxl", ".musicxml", ".xml", ".abc", ".krn")
CACHE_VERSION = 3  # bumped whenever an encoding or the cache's layout changes
SPLIT_SEED = 20120627


def default_grid(spec: str) -> float:
    """The piano-roll grid in quarter notes: a quarter for the chorales (as JSB Chorales), else a sixteenth."""
    return 1.0 if spec == "chorales" else 0.25


@dataclass
class MusicCorpus:
    name: str
    encoding: str
    grid: float | None  # piano roll only
    pieces: list  # events: token lists; piano roll: (T, 88) bool arrays
    titles: list[str]
    skipped: int  # files or pieces that could not be read or held no notes

    def split(self) -> dict[str, list]:
        """{"train", "valid", "test"}: 80/10/10 of the pieces, in a fixed pseudo-random order."""
        order = np.random.default_rng(SPLIT_SEED).permutation(len(self.pieces))
        n_valid = n_test = max(1, len(order) // 10)
        if len(order) < 3:
            raise ValueError(f"{self.name} has {len(order)} usable pieces; training needs at least 3 "
                             "(one each for training, validation and test)")
        parts = {"test": order[:n_test], "valid": order[n_test : n_test + n_valid], "train": order[n_test + n_valid :]}
        return {name: [self.pieces[i] for i in sorted(chosen)] for name, chosen in parts.items()}

    def summary(self) -> str:
        unit = "tokens" if self.encoding == "events" else "frames"
        size = sum(len(p) for p in self.pieces)
        skipped = f", {self.skipped} skipped (unreadable or empty)" if self.skipped else ""
        return f"{self.name}: {len(self.pieces)} pieces, {size:,} {unit}{skipped}"


def _sources(spec: str) -> list:
    """What to read: paths, or (for the chorales) names in music21's corpus, such as "bach/bwv269"."""
    if spec == "chorales":
        from music21 import corpus

        return list(corpus.chorales.Iterator(returnType="filename"))
    if spec == "folk":
        from music21 import corpus

        return sorted(corpus.getWork("oneills1850"))
    folder = pathlib.Path(spec)
    if not folder.is_dir():
        raise ValueError(f"--data {spec!r} is not chorales, folk, or a folder of MIDI/MusicXML/ABC files")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise ValueError(f"--data {spec!r} holds no music files ({', '.join(SUFFIXES)})")
    return files


def _cache_path(spec: str, sources, encoding: str, grid) -> pathlib.Path:
    root = pathlib.Path(os.environ.get("RNNKIT_CACHE") or pathlib.Path.home() / ".cache" / "rnnkit")
    if spec in BUILT_INS:
        from music21 import VERSION_STR

        identity = f"music21 {VERSION_STR}"
        stem = spec
    else:
        stats = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in sources]
        identity = json.dumps([str(pathlib.Path(spec).resolve()), stats])
        stem = pathlib.Path(spec).resolve().name or "music"
    digest = hashlib.sha256(f"{identity} {encoding} {grid} v{CACHE_VERSION}".encode()).hexdigest()[:16]
    return root / "music" / f"{stem}-{encoding}{'' if grid is None else f'-{grid:g}'}-{digest}.json"


def read_scores(source):
    """The pieces of one file or corpus name (several for an ABC collection); raises if it is not music."""
    from music21 import converter, corpus, stream

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # music21 warns about every odd bar of a real corpus
        parsed = corpus.parse(source) if isinstance(source, str) else converter.parse(source)
    return list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]


def _read(source, encoding: str, grid) -> tuple[list, int]:
    """([(title, encoded piece)], how many pieces or files were skipped) for one file or corpus name."""
    try:
        scores = read_scores(source)
    except Exception:  # music21 raises many kinds of error on a file that is not music; skip it
        return [], 1
    found, skipped = [], 0
    for i, score in enumerate(scores):
        try:
            encoded = _encode(score, encoding, grid)
        except Exception:  # an odd piece inside a good file: skip that piece only
            encoded = None
        if encoded is None:
            skipped += 1
            continue
        title = score.metadata.title if score.metadata is not None and score.metadata.title else None
        stem = pathlib.Path(source).stem
        found.append((title or (stem if len(scores) == 1 else f"{stem}#{i + 1}"), encoded))
    return found, skipped


def _encode(score, encoding: str, grid):
    if encoding == "events":
        tokens = melody_events(score)
        return tokens if any(map(is_note_token, tokens)) else None
    frames = piano_roll(score, grid)
    return frames if frames.any() else None


def load_music(spec: str, encoding: str = "events", grid: float | None = None, progress: bool = True) -> MusicCorpus:
    """The encoded corpus ``spec``, from the cache when it holds it, else parsed (and then cached)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"--encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    grid = (grid or default_grid(spec)) if encoding == "pianoroll" else None
    sources = _sources(spec)
    cache = _cache_path(spec, sources, encoding, grid)
    name = spec if spec in BUILT_INS else pathlib.Path(spec).name
    stored = _read_cache(cache, encoding)
    if stored is not None:
        return MusicCorpus(name, encoding, grid, *stored)
    pieces, titles, skipped = [], [], 0
    with ProcessPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1, len(sources)))) as pool:
        read = pool.map(_read, sources, [encoding] * len(sources), [grid] * len(sources))
        for encoded, failed in tqdm(read, total=len(sources), desc=f"reading {name}", unit="file", file=sys.stderr,
                                    disable=not progress):
            skipped += failed
            for title, piece in encoded:
                titles.append(title)
                pieces.append(piece)
    if not pieces:
        raise ValueError(f"--data {spec!r}: none of its {len(sources)} files could be read as music")
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(cache, json.dumps({"encoding": encoding, "pieces": _encode_pieces(pieces, encoding),
                                    "titles": titles, "skipped": skipped}))
    return MusicCorpus(name, encoding, grid, pieces, titles, skipped)


def _read_cache(path: pathlib.Path, encoding: str):
    """(pieces, titles, skipped) from the cache file, or None when there is none or it cannot be used (then
    the corpus is parsed again and the cache rewritten; a line says why)."""
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_bytes())
        if stored["encoding"] != encoding:
            raise ValueError(f"it holds {stored['encoding']!r} pieces")
        pieces = _decode_pieces(stored["pieces"], encoding)
        titles, skipped = stored["titles"], int(stored["skipped"])
        if len(titles) != len(pieces) or not all(isinstance(t, str) for t in titles):
            raise ValueError("titles do not match pieces")
        return pieces, titles, skipped
    except (ValueError, KeyError, TypeError, IndexError) as error:
        print(f"rnnkit: the music cache {path} is unreadable ({type(error).__name__}: {error}); rebuilding it",
              file=sys.stderr)
        return None


def _encode_pieces(pieces, encoding):
    """JSON for the cache: token lists as they are; a roll as each frame's list of sounding keys."""
    if encoding == "events":
        return pieces
    return [[np.flatnonzero(frame).tolist() for frame in frames] for frames in pieces]


def _decode_pieces(stored, encoding):
    if encoding == "events":
        if not all(isinstance(p, list) and all(isinstance(t, str) for t in p) for p in stored):
            raise ValueError("a piece is not a list of tokens")
        return stored
    rolls = []
    for frames in stored:
        roll = np.zeros((len(frames), KEYS), dtype=bool)
        for f, keys in enumerate(frames):
            roll[f, keys] = True
        rolls.append(roll)
    return rolls
