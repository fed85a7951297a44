"""Improvising with a trained music run (``rnnkit sample`` of ``--task music``): new pieces as scores, from
the events model (melody tokens, through ``generate``) or the piano-roll model (a sigmoid per key, drawn frame
by frame), optionally continuing a prime; written as MIDI, MusicXML, PNG and (with FluidSynth) WAV files."""

from __future__ import annotations

import pathlib

import numpy as np

from . import generate
from .data import Vocabulary
from .data.music import load_music, read_scores
from .data.music_encodings import (TIE, events_to_score, is_note_token, melody_events, piano_roll, roll_to_score,
                                   split_note)
from .metrics import longest_shared_runs
from .music_files import synthesiser_problem, write_piece

NOVELTY_RUN = 16  # a sample sharing this many consecutive tokens with a training piece is not novel
MAX_EVENTS = 1000  # tokens in a sampled piece that never ends
SAMPLE_OPTIONS = ("temperature", "top_k", "top_p", "beam", "seed", "out", "bars", "frames", "prime", "wav")


def sample(run, path, n: int, out=None, bars=None, frames=None, prime=None, wav=False, temperature=1.0, top_k=None,
           top_p=None, beam=None, seed=None) -> tuple[list[dict], list[str]]:
    """``rnnkit sample`` of a music run at ``path``: ``n`` pieces written into ``out`` (default: path/samples).
    Returns a record per piece, {"tokens" or "frames": how many, "files"}, and the notes for stderr (a prime
    fitted to the vocabulary, no synthesiser for WAV, the samples' novelty)."""
    encoding, notes = run.meta["encoding"], []
    if encoding == "events" and frames is not None:
        raise ValueError("--frames is for piano-roll models; this one writes events, give --bars")
    if encoding == "pianoroll" and (bars is not None or beam is not None or top_k or top_p):
        raise ValueError("--bars, --beam, --top-k and --top-p are for event models; a piano roll takes --frames "
                         "and --temperature")
    for flag, value in (("-n", n), ("--bars", bars), ("--frames", frames), ("--beam", beam)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be a positive int, got {value}")
    primed = None if prime is None else read_prime(prime, run.meta)
    if primed is not None and encoding == "events":
        primed, changed = fit_to_vocabulary(primed, run.meta)
        if changed:
            notes.append(f"rnnkit: {changed} of the prime's tokens are not in the model's vocabulary; each became "
                         "the nearest it knows (same pitch, nearest duration) or was left out")
    pieces = improvise(run, n, seed, bars=bars, frames=frames, prime=primed, temperature=temperature, top_k=top_k,
                       top_p=top_p, beam=beam)
    folder = pathlib.Path(out) if out else pathlib.Path(path) / "samples"
    no_wav = synthesiser_problem() if wav else None
    if no_wav:
        notes.append(f"rnnkit: {no_wav}; writing the other files")
    records = []
    for i, piece in enumerate(pieces, start=1):
        files = write_piece(folder, f"sample-{i}", piece["score"], melody=encoding == "events",
                            grid=run.meta.get("grid"), frames=piece.get("frames"), wav=wav and not no_wav)
        unit = "tokens" if encoding == "events" else "frames"
        records.append({unit: len(piece[unit]), "files": [str(f) for f in files]})
    if encoding == "events":
        notes.extend(_novelty(run, [p["tokens"] for p in pieces]))
    return records, notes


def show_sample(run, record: dict) -> str:
    """The line people see for a record of ``sample``: its size and its files."""
    unit = "tokens" if "tokens" in record else "frames"
    return f"{record[unit]} {unit}: {' '.join(record['files'])}"


def _novelty(run, samples) -> list[str]:
    """The longest run of tokens each sample shares with a training piece (none when the data is gone)."""
    try:
        training = load_music(run.config.data, "events").split()["train"]
    except ValueError:
        return []
    runs = longest_shared_runs(samples, training)
    return [f"longest run of tokens shared with a training piece: {', '.join(map(str, runs))} "
            f"({sum(r < NOVELTY_RUN for r in runs)}/{len(runs)} under {NOVELTY_RUN})"]


def default_frames(grid: float) -> int:
    """How many frames a sampled piano roll has unless told: 64 quarter notes (16 bars of 4/4)."""
    return int(round(64 / grid))


def sample_frames(model, n: int, frames: int, rng, temperature: float = 1.0, prime=None) -> list[np.ndarray]:
    """``n`` piano rolls of ``frames`` new frames, each key drawn on with probability σ(z_k / temperature),
    after the frames of ``prime`` (T, K) when given (they begin every roll returned)."""
    K = model.config["num_keys"]
    state, previous = None, np.zeros((n, K), np.float32)
    if prime is not None and len(prime):
        inputs = np.vstack([np.zeros((1, K)), prime[:-1]]).astype(np.float32)
        _, state = model.forward(np.repeat(inputs[None], n, axis=0), training=False)
        previous = np.repeat(prime[-1:].astype(np.float32), n, axis=0)
    drawn = []
    for _ in range(frames):
        logits, state = model.step(previous, state)
        if temperature == 0:  # greedy: every key more likely on than off
            previous = (logits > 0).astype(np.float32)
        else:
            p = 0.5 * (1.0 + np.tanh(logits.astype(np.float64) / (2.0 * temperature)))  # σ(z / T), no overflow
            previous = (rng.random(p.shape) < p).astype(np.float32)
        drawn.append(previous.astype(bool))
    rolls = np.stack(drawn, axis=1)
    head = np.zeros((0, K), bool) if prime is None else np.asarray(prime, bool)
    return [np.vstack([head, roll]) for roll in rolls]


def read_prime(path, meta):
    """The events (tokens) or the piano roll (T, K) of the first piece of a MIDI/MusicXML/ABC file."""

    try:
        score = read_scores(pathlib.Path(path))[0]
    except Exception as error:  # music21 raises many kinds of error on a file that is not music
        raise ValueError(f"--prime {path!r} could not be read as music: {error}") from None
    if meta["encoding"] == "pianoroll":
        return piano_roll(score, meta["grid"])
    return melody_events(score)


def improvise(run, n: int, seed, bars=None, frames=None, prime=None, temperature=1.0, top_k=None, top_p=None,
              beam=None) -> list[dict]:
    """``n`` new pieces from a trained music run: [{"score", "tokens" or "frames"}], each beginning with
    ``prime`` (tokens or frames) when given. Events stop at <EOS>, or after ``bars`` new bars; a piano roll
    has ``frames`` new frames (default: 64 quarter notes' worth)."""
    meta, rng = run.meta, np.random.default_rng(seed)
    if meta["encoding"] == "pianoroll":
        grid = meta["grid"]
        count = frames if frames is not None else default_frames(grid)
        rolls = sample_frames(run.model, n, count, rng, temperature, prime)
        return [{"score": roll_to_score(r, grid), "frames": r} for r in rolls]
    vocab = Vocabulary.from_json(meta["vocab"])
    prefix = " ".join(prime or [])
    max_len = MAX_EVENTS if bars is None else 64 * bars
    if beam is not None:
        texts = [text for text, _ in generate.beam_search(run.model, vocab, vocab.eos, width=beam, max_len=max_len,
                                                          prefix=prefix, n=n)]
    else:
        texts = generate.sample(run.model, vocab, vocab.eos, n=n, max_len=max_len, temperature=temperature,
                                top_k=top_k, top_p=top_p, prefix=prefix, rng=rng)
    pieces = [_cut_bars(text.split(), len(prime or []), bars) for text in texts]
    return [{"score": events_to_score(tokens), "tokens": tokens} for tokens in pieces]


def fit_to_vocabulary(tokens, meta) -> tuple[list[str], int]:
    """A prime's tokens as the model knows them, and how many had to change: a note or rest the vocabulary
    lacks (a MIDI file's odd durations, a tie the corpus never had) becomes the known one of the same pitch
    (and tie, if it can) with the nearest duration; a token with no such neighbour is left out."""
    known = set(Vocabulary.from_json(meta["vocab"]).itos)
    fitted, changed = [], 0
    for token in tokens:
        if token in known:
            fitted.append(token)
            continue
        changed += 1
        if not is_note_token(token):
            continue
        name, length = split_note(token)
        same = [t for t in known if is_note_token(t) and split_note(t)[0] == name]
        same = [t for t in same if t.endswith(TIE) == token.endswith(TIE)] or same
        if same:
            fitted.append(min(same, key=lambda t: (abs(split_note(t)[1] - length), t)))
    return fitted, changed


def _cut_bars(tokens, start: int, bars):
    """``tokens`` up to (not including) the ``bars``-th bar line after position ``start``."""
    if bars is None:
        return tokens
    lines = [i for i, t in enumerate(tokens) if i >= start and t == "|"]
    return tokens if len(lines) < bars else tokens[: lines[bars - 1]]
