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
from dataclasses import dataclass

import numpy as np

from .. import generate
from ..baselines import NGram, best_ngram
from ..checkpoint import load_best
from ..data import LineBatches, Vocabulary
from ..data.batching import FrameBatches
from ..data.music import load_music
from ..data.music_encodings import KEYS, REST, events_to_score, is_note_token, roll_to_score, split_note
from ..improvise import MAX_EVENTS, NOVELTY_RUN, default_frames, sample_frames
from ..improvise import SAMPLE_OPTIONS, sample, show_sample  # noqa: F401  (its rnnkit sample: pieces as files)
from ..losses import softmax_cross_entropy
from ..metrics import longest_shared_runs, total_variation
from ..models import LanguageModel
from ..models.piano_roll import PianoRollModel
from ..music_files import write_piece
from .base import dropout_option, model_line, option, parameters_line, run_lines, sample_every_option

# what a TrainConfig field left as None means for this task: its built-in data and a model that does well on it
DEFAULTS = {"data": "folk", "cell": "lstm", "embed": 32, "seq_len": 256, "batch_size": 32, "steps": 1000}


@dataclass
class Options:
    encoding: str = option("events", "melody tokens (events) or polyphonic piano-roll frames (pianoroll)",
                           ("events", "pianoroll"))
    sample_every: int = sample_every_option(500)
    dropout: float = dropout_option(0.0)


DATA = 'folk, chorales, or a folder of MIDI, MusicXML or ABC files'  # what --data takes
WHAT = 'a music model'  # what its model is, for messages
NEXT = 'improvise with: rnnkit sample {out} --out DIR'  # what to run with a trained run

REPORT_SAMPLES = 50
PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def build_model(config, meta: dict):
    if meta["encoding"] == "pianoroll":
        return PianoRollModel(KEYS, config.cell, config.hidden, config.layers, config.options.dropout, seed=config.seed)
    return LanguageModel(len(Vocabulary.from_json(meta["vocab"])), config.cell, config.hidden, config.layers,
                         config.embed, config.options.dropout, seed=config.seed)


def Task(config, meta: dict | None = None):
    """The task of ``config.options.encoding``: ``EventsTask`` or ``RollTask``."""
    return (RollTask if config.options.encoding == "pianoroll" else EventsTask)(config, meta)


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


def per_key_frequency_nll(train, test) -> float:
    """Nats per frame of ``test`` when key k is on with its training frequency p_k (add-½), independently."""
    frames = np.concatenate(train)
    p = (frames.sum(axis=0) + 0.5) / (len(frames) + 1.0)
    y = np.concatenate(test)
    return float(-(y @ np.log(p) + (~y) @ np.log1p(-p)).mean())


def info(config, meta: dict) -> list[str]:
    frames = meta["encoding"] == "pianoroll"
    what = (f"a frame of 88 keys every {meta['grid']:g} quarter note" if frames
            else f"vocabulary of {len(Vocabulary.from_json(meta['vocab']))} event tokens")
    return [f"task: music ({WHAT}), {meta['encoding']} encoding",
            model_line(config, f", dropout {config.options.dropout}"
                       + ("" if frames else f", embedding {config.embed}")),
            parameters_line(meta), f"data: {meta['corpus']} ({what})",
            *run_lines(meta, "frame" if frames else "token")]


def evaluate_data(run, data: str) -> tuple[dict, str]:
    """The loss over every piece of a folder of scores (or a built-in corpus)."""
    result = evaluate_folder(run, data)
    return result, f"{result['pieces']} pieces: loss {result['loss']:.4f} nats/{result['unit']}"
