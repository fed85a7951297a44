"""Task ``music``: learn real scores and improvise new ones, in one of two encodings (``--encoding``).

events     the melody as tokens (key, metre, pitch+duration, bar lines; ``data.music_encodings``), a
           ``LanguageModel`` over them trained on whole pieces, each from a fresh state as it is sampled
           (cut to ``--seq-len`` tokens in training only). Evaluated per piece in nats per token beside an
           add-k n-gram
           (n and k chosen on validation). Samples are checked for novelty (the longest run of tokens they
           share with the training pieces) and for how close their pitch-class and duration distributions
           are to the training data's (total variation distance), beside n-gram samples and the real test
           pieces.
pianoroll  every part as 88-key frames, a ``PianoRollModel`` (a sigmoid per key) trained on windows of
           ``--seq-len`` frames, evaluated on whole pieces in nats per frame beside the per-key frequency
           baseline (each key on with its training frequency, independently of everything else).
"""

from __future__ import annotations

import pathlib
from collections import Counter

import numpy as np

from .. import generate
from ..baselines import NGram, best_ngram
from ..checkpoint import load_best
from ..data import LineBatches, Vocabulary
from ..data.batching import FrameBatches
from ..data.music import load_music
from ..data.music_encodings import KEYS, REST, TIE, events_to_score, is_note_token, roll_to_score, split_note
from ..losses import softmax_cross_entropy
from ..metrics import longest_shared_runs, total_variation
from ..models import LanguageModel
from ..models.piano_roll import PianoRollModel
from ..music_files import write_piece
from .base import model_line, parameters_line, run_lines

# what a TrainConfig field left as None means for this task: its built-in data and a model that does well on it
DEFAULTS = {"data": "folk", "encoding": "events", "cell": "lstm", "embed": 32, "dropout": 0.0, "seq_len": 256,
            "batch_size": 32, "steps": 1000, "sample_every": 500}
OPTIONS = ("sample_every", "dropout", "encoding")  # the options of train.TASK_ONLY it takes
WHAT = 'a music model'  # what its model is, for messages
NEXT = 'improvise with: rnnkit sample {out} --out DIR'  # what to run with a trained run

NOVELTY_RUN = 16  # a sample sharing this many consecutive tokens with a training piece is not novel
REPORT_SAMPLES = 50
MAX_EVENTS = 1000  # tokens in a sampled piece that never ends
PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def build_model(config, meta: dict):
    if meta["encoding"] == "pianoroll":
        return PianoRollModel(KEYS, config.cell, config.hidden, config.layers, config.dropout, seed=config.seed)
    return LanguageModel(len(Vocabulary.from_json(meta["vocab"])), config.cell, config.hidden, config.layers,
                         config.embed, config.dropout, seed=config.seed)


def Task(config, meta: dict | None = None):
    """The task of ``config.encoding``: ``EventsTask`` or ``RollTask``."""
    return (RollTask if config.encoding == "pianoroll" else EventsTask)(config, meta)


# what each encoding trains and is scored on: (logits, targets, mask) -> (mean, d mean / d logits)
LOSSES = {"events": softmax_cross_entropy, "pianoroll": PianoRollModel.loss}
UNITS = {"events": "token", "pianoroll": "frame"}


class PieceTask:
    """What the two encodings share: a step over a batch of pieces (x, y, mask), validation in nats per unit."""

    encoding = "events"
    averages_over = "tokens"  # event tokens or piano-roll frames

    def train_step(self, batch, carry):
        x, y, mask = batch
        logits, _ = self.model.forward(x, None, mask)
        loss, dlogits = LOSSES[self.encoding](logits, y, mask)
        self.model.backward(dlogits)
        return loss, None, int(mask.sum())

    def validate(self) -> dict:
        return {"loss": mean_loss(self.model, self.valid, self.encoding)}

    def describe_validation(self, metrics) -> str:
        return f"{metrics['loss']:.4f} nats/{UNITS[self.encoding]}"


class EventsTask(PieceTask):
    def __init__(self, config, meta: dict | None = None):
        self.config = config
        self.corpus = load_music(config.data, "events")
        self.parts = self.corpus.split()
        # every token of the corpus (as a character vocabulary holds every character): a rare duration in a
        # test piece is a token the model can score, not an unknown
        pieces = self.corpus.pieces
        self.vocab = Vocabulary.for_run(meta and meta["vocab"], pieces, pieces, "symbol")
        self.ids = {name: [self.vocab.encode_tokens(p) for p in pieces] for name, pieces in self.parts.items()}
        self.batches = LineBatches(self.ids["train"], config.batch_size, config.seq_len, self.vocab.eos,
                                   self.vocab.pad, config.seed)
        self.valid = self.piece_batches("valid")
        self.model = build_model(config, self.metadata())

    def piece_batches(self, part: str) -> LineBatches:
        return piece_batches(self.ids[part], self.vocab, self.config.batch_size)

    def samples(self, n: int, seed: int) -> list[list[str]]:
        texts = generate.sample(self.model, self.vocab, self.vocab.eos, n=n, max_len=MAX_EVENTS,
                                rng=np.random.default_rng(seed))
        return [text.split() for text in texts]

    def show(self, seed: int) -> list[str]:
        return [f"sample: {' '.join(self.samples(1, seed)[0][:24])} ..."]

    def metadata(self) -> dict:
        return {"vocab": self.vocab.to_json(), "encoding": "events", "corpus": self.corpus.name,
                "start": int(self.vocab.eos), "mode": "lines"}

    def describe(self) -> str:
        return (f"{self.corpus.summary()}; {len(self.vocab)} event tokens; {self.config.cell} with "
                f"{self.model.num_params:,} parameters")

    def ngram(self) -> tuple[NGram, float]:
        """The add-k n-gram (n in 2..5, k chosen on validation) and its test cross-entropy."""
        model, _ = best_ngram(self.ids["train"], self.ids["valid"], self.vocab.eos, len(self.vocab) - 1,
                              ns=(2, 3, 4, 5), ks=(0.001, 0.01, 0.1))
        return model, model.cross_entropy(self.ids["test"])

    def report(self, run_dir, best_loss: float) -> list[str]:
        run_dir = pathlib.Path(run_dir)
        load_best(self.model, run_dir)
        ngram, ngram_loss = self.ngram()
        test = mean_loss(self.model, self.piece_batches("test"), self.encoding)
        lines = [f"test cross-entropy: {test:.4f} nats/token; add-k {ngram.n}-gram (k={ngram.k}): "
                 f"{ngram_loss:.4f} nats/token"]
        rng = np.random.default_rng(self.config.seed)
        drawn = {"model": self.samples(REPORT_SAMPLES, self.config.seed),
                 f"{ngram.n}-gram": [self.vocab.decode(ngram.sample(rng, MAX_EVENTS)).split()
                                     for _ in range(REPORT_SAMPLES)]}
        lines.append(f"{REPORT_SAMPLES} samples each; novelty: the longest run of tokens shared with a training "
                     f"piece; distance: total variation from the training data's distribution")
        for source, pieces in {**drawn, "test pieces": self.parts["test"]}.items():
            lines.append("  " + describe_samples(source, pieces, self.parts["train"]))
        for i, tokens in enumerate(drawn["model"][:3], start=1):
            write_piece(run_dir / "samples", f"sample-{i}", events_to_score(tokens), melody=True)
        lines.append(f"three samples as MIDI, MusicXML and PNG in {run_dir / 'samples'}")
        return lines


def piece_batches(ids, vocab, batch_size: int) -> LineBatches:
    """Whole pieces, each from a fresh state: [<EOS>, t1..tn] -> [t1..tn, <EOS>]."""
    return LineBatches(ids, batch_size, max(len(p) for p in ids) + 1, vocab.eos, vocab.pad)


def mean_loss(model, batches, encoding: str) -> float:
    """Nats per token (events) or per frame (piano roll) over every batch of ``batches.in_order()``."""
    total, count = 0.0, 0
    for x, y, mask in batches.in_order():
        logits, _ = model.forward(x, None, mask, training=False)
        loss = LOSSES[encoding](logits, y, mask)[0]
        n = int(mask.sum())
        total, count = total + loss * n, count + n
    return total / count


def evaluate_folder(run, spec: str) -> dict:
    """{"loss", "pieces", "unit"}: a trained model's loss over every piece of ``spec`` (a folder or built-in)."""
    encoding = run.meta["encoding"]
    corpus = load_music(spec, encoding, run.meta.get("grid"))
    if encoding == "pianoroll":
        batches = FrameBatches(corpus.pieces, 32, None)
    else:
        vocab = Vocabulary.from_json(run.meta["vocab"])
        batches = piece_batches([vocab.encode_tokens(p) for p in corpus.pieces], vocab, 32)
    return {"loss": mean_loss(run.model, batches, encoding), "pieces": len(corpus.pieces), "unit": UNITS[encoding]}


def describe_samples(source: str, pieces, training) -> str:
    runs = longest_shared_runs(pieces, training)
    novel = sum(r < NOVELTY_RUN for r in runs)
    pitch, length = distributions(training)
    p, d = distributions(pieces)
    return (f"{source:<12} {novel}/{len(pieces)} novel (longest shared run: median {int(np.median(runs))}, "
            f"max {max(runs)} tokens); distance: pitch classes {total_variation(p, pitch):.3f}, durations "
            f"{total_variation(d, length):.3f}; {np.mean([len(x) for x in pieces]):.0f} tokens on average")


def distributions(pieces) -> tuple[Counter, Counter]:
    """Counts of the pitch classes of the notes (0 = C) and of the durations of notes and rests."""
    pitches, lengths = Counter(), Counter()
    for tokens in pieces:
        for token in filter(is_note_token, tokens):
            name, length = split_note(token)
            lengths[length] += 1
            if name != REST:
                letter, accidentals = name[0], name[1:].rstrip("0123456789")
                pitches[(PITCH_CLASS[letter] + accidentals.count("#") - accidentals.count("-")) % 12] += 1
    return pitches, lengths


class RollTask(PieceTask):
    encoding = "pianoroll"

    def __init__(self, config, meta: dict | None = None):
        self.config = config
        self.corpus = load_music(config.data, "pianoroll", meta["grid"] if meta else None)
        self.parts = self.corpus.split()
        self.batches = FrameBatches(self.parts["train"], config.batch_size, config.seq_len, config.seed)
        self.valid = FrameBatches(self.parts["valid"], config.batch_size, None)
        self.model = build_model(config, self.metadata())

    def show(self, seed: int) -> list[str]:
        return []

    def metadata(self) -> dict:
        return {"encoding": "pianoroll", "grid": self.corpus.grid, "corpus": self.corpus.name, "keys": KEYS}

    def describe(self) -> str:
        return (f"{self.corpus.summary()}; a frame every {self.corpus.grid:g} quarter note; {self.config.cell} "
                f"with {self.model.num_params:,} parameters")

    def report(self, run_dir, best_loss: float) -> list[str]:
        run_dir = pathlib.Path(run_dir)
        load_best(self.model, run_dir)
        test = mean_loss(self.model, FrameBatches(self.parts["test"], self.config.batch_size, None), self.encoding)
        baseline = per_key_frequency_nll(self.parts["train"], self.parts["test"])
        lines = [f"test negative log-likelihood: {test:.4f} nats/frame; per-key frequency baseline: "
                 f"{baseline:.4f} nats/frame ({len(self.parts['test'])} test pieces)"]
        drawn = sample_frames(self.model, 3, default_frames(self.corpus.grid), np.random.default_rng(self.config.seed))
        for i, frames in enumerate(drawn, start=1):
            write_piece(run_dir / "samples", f"sample-{i}", roll_to_score(frames, self.corpus.grid), melody=False,
                        grid=self.corpus.grid, frames=frames)
        lines.append(f"three samples as MIDI and PNG in {run_dir / 'samples'}")
        return lines


def default_frames(grid: float) -> int:
    """How many frames a sampled piano roll has unless told: 64 quarter notes (16 bars of 4/4)."""
    return int(round(64 / grid))


def per_key_frequency_nll(train, test) -> float:
    """Nats per frame of ``test`` when key k is on with its training frequency p_k (add-½), independently."""
    frames = np.concatenate(train)
    p = (frames.sum(axis=0) + 0.5) / (len(frames) + 1.0)
    y = np.concatenate(test)
    return float(-(y @ np.log(p) + (~y) @ np.log1p(-p)).mean())


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
    from ..data.music import read_scores
    from ..data.music_encodings import melody_events, piano_roll

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


def info(config, meta: dict) -> list[str]:
    frames = meta["encoding"] == "pianoroll"
    what = (f"a frame of 88 keys every {meta['grid']:g} quarter note" if frames
            else f"vocabulary of {len(Vocabulary.from_json(meta['vocab']))} event tokens")
    return [f"task: music ({WHAT}), {meta['encoding']} encoding",
            model_line(config, f", dropout {config.dropout}" + ("" if frames else f", embedding {config.embed}")),
            parameters_line(meta), f"data: {meta['corpus']} ({what})",
            *run_lines(meta, "frame" if frames else "token")]


def evaluate_data(run, data: str) -> tuple[dict, str]:
    """The loss over every piece of a folder of scores (or a built-in corpus)."""
    result = evaluate_folder(run, data)
    return result, f"{result['pieces']} pieces: loss {result['loss']:.4f} nats/{result['unit']}"
