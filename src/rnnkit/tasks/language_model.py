"""Task ``lm``: a language model of a text corpus, read line by line or as one stream.

Line corpora (``names``): each line is one sequence framed by <EOS>; the baseline is a trigram model with
add-k smoothing on the same split. Streams (``python-source``, any file): truncated BPTT with the state
carried between batches; validation reads at most ``VALID_TOKENS`` tokens of the last 10%.
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np

from .. import generate
from ..baselines import best_ngram_cross_entropy
from ..data import LineBatches, StreamBatches, Vocabulary, load_corpus
from ..losses import softmax_cross_entropy
from ..models import LanguageModel
from .base import (TEXT_SAMPLE_OPTIONS, dropout_option, model_line, option, parameters_line, run_lines,
                   sample_every_option, scored, show_text_sample, text_samples,
                   text_scores)

# what a TrainConfig field left as None means for this task: its built-in data and a model that does well on it
DEFAULTS = {"data": "names", "cell": "lstm", "embed": 32, "steps": 2000}


@dataclass
class Options:
    mode: str | None = option(None, "lines (a sequence a line) or stream (one text, carried state); default: the "
                              "corpus's own", ("lines", "stream"), kind=str)
    sample_every: int = sample_every_option(1000)
    dropout: float = dropout_option(0.0)


DATA = 'names, python-source, or a UTF-8 text file or directory'  # what --data takes
WHAT = 'a language model'  # what its model is, for messages
NEXT = 'sample more with: rnnkit sample {out}'  # what to run with a trained run

VALID_TOKENS = 100_000  # periodic validation of a stream reads at most this many tokens


def build_model(config, meta: dict) -> LanguageModel:
    return LanguageModel(len(Vocabulary.from_json(meta["vocab"])), config.cell, config.hidden, config.layers,
                         config.embed, config.options.dropout, seed=config.seed)


class Task:
    averages_over = "tokens"

    def __init__(self, config, meta: dict | None = None):
        self.config = config
        corpus = load_corpus(config.data)
        self.mode = config.options.mode or corpus.mode
        self.corpus_name = corpus.name
        train, valid = corpus.split(self.mode)
        lines = self.mode == "lines"  # a line corpus's newlines are not characters of the vocabulary
        self.vocab = Vocabulary.for_run(meta and meta["vocab"], corpus.lines if lines else [corpus.text],
                                        train if lines else [train], config.level, config.min_freq, config.max_vocab)
        vocab = self.vocab
        if self.mode == "lines":
            self.train_lines = set(train)
            self.train_ids = [vocab.encode(line) for line in train]
            self.valid_ids = [vocab.encode(line) for line in valid]
            self.batches = LineBatches(self.train_ids, config.batch_size, config.seq_len, vocab.eos, vocab.pad,
                                       config.seed)
            self.valid = LineBatches(self.valid_ids, config.batch_size, config.seq_len, vocab.eos, vocab.pad)
            self.start = vocab.eos
        else:
            self.train_lines = None
            self.batches = StreamBatches(vocab.encode(train), config.batch_size, config.seq_len)
            valid_ids = vocab.encode(valid)[:VALID_TOKENS]
            if len(valid_ids) < 2:
                raise ValueError(f"--data {config.data!r} is too short: its last 10% (validation) needs 2 tokens")
            valid_len = min(config.seq_len, len(valid_ids) - 1)  # a short validation text gets shorter windows
            streams = max(1, min(config.batch_size, (len(valid_ids) - 1) // valid_len))
            self.valid = StreamBatches(valid_ids, streams, valid_len)
            self.start = vocab.stoi.get("\n", len(vocab.specials))  # a newline, else the first real token
        self.model = build_model(config, self.metadata())
        self.unit = "char" if config.level == "char" else "token"

    def train_step(self, batch, carry):
        x, y, mask = batch
        logits, state = self.model.forward(x, carry, mask)
        loss, dlogits = softmax_cross_entropy(logits, y, mask)
        self.model.backward(dlogits)
        return loss, state, int(mask.sum()) if mask is not None else y.size

    def validate(self) -> dict:
        total, count, state = 0.0, 0, None
        for x, y, mask in self.valid.in_order():
            logits, new_state = self.model.forward(x, state, mask, training=False)
            loss, _ = softmax_cross_entropy(logits, y, mask)
            n = int(mask.sum()) if mask is not None else y.size
            total, count = total + loss * n, count + n
            state = new_state if self.valid.carries_state else None
        return {"loss": total / count}

    def describe_validation(self, metrics) -> str:
        loss = metrics["loss"]
        return f"{loss:.4f} nats/{self.unit} ({loss / math.log(2):.3f} bits/{self.unit})"

    def samples(self, n: int, seed: int) -> list[str]:
        stream = self.mode == "stream"
        return generate.sample(self.model, self.vocab, self.start, n=n, rng=np.random.default_rng(seed),
                               max_len=200 if stream else 50, stop_at_eos=not stream)

    def show(self, seed: int) -> list[str]:
        return [f"sample: {text!r}" for text in self.samples(3, seed)]

    def metadata(self) -> dict:
        return {"vocab": self.vocab.to_json(), "mode": self.mode, "start": int(self.start), "corpus": self.corpus_name}

    def describe(self) -> str:
        return (f"{self.corpus_name}: {len(self.vocab)} {self.config.level} tokens in the vocabulary, {self.mode} "
                f"mode; {self.config.cell} with {self.model.num_params:,} parameters")

    def baseline(self) -> tuple[float, float] | None:
        """Trigram add-k cross-entropy (and k) on the same split, for line corpora; None for streams."""
        if self.mode != "lines":
            return None
        return best_ngram_cross_entropy(self.train_ids, self.valid_ids, self.vocab.eos, len(self.vocab) - 1)

    def report(self, run_dir, best_loss: float) -> list[str]:
        unit = self.unit
        lines = [f"best validation cross-entropy: {best_loss:.4f} nats/{unit} ({best_loss / math.log(2):.3f} bits/{unit})"]
        baseline = self.baseline()
        if baseline is not None:
            lines.append(f"trigram add-k baseline (k={baseline[1]}) on the same split: {baseline[0]:.4f} nats/{unit}")
        samples = self.samples(10, seed=self.config.seed)
        if self.train_lines is not None:
            novel = [s for s in samples if s not in self.train_lines]
            lines.append(f"samples ({len(novel)}/{len(samples)} novel, not in the training data):")
        else:
            lines.append("sample:")
        return lines + [f"  {text}" for text in samples]


def info(config, meta: dict) -> list[str]:
    vocab = Vocabulary.from_json(meta["vocab"])
    return [f"task: lm ({WHAT})", model_line(config, f", embedding {config.embed}, dropout {config.options.dropout}"),
            parameters_line(meta),
            f"corpus: {meta['corpus']} ({meta['mode']} mode, {vocab.level} level, vocabulary {len(vocab)})",
            *run_lines(meta, vocab.level)]


def evaluate_data(run, data: str) -> tuple[dict, str]:
    """Loss, perplexity and bits per token of a text file (or built-in corpus), read as the run was trained."""
    meta, vocab = run.meta, Vocabulary.from_json(run.meta["vocab"])
    if meta["mode"] == "lines":
        totals = [generate.score(run.model, vocab, meta["start"], line) for line in load_corpus(data).lines]
    else:
        totals = [generate.evaluate_stream(run.model, vocab, meta["start"], load_corpus(data).text)]
    return scored(totals, vocab)


SAMPLE_OPTIONS = TEXT_SAMPLE_OPTIONS
# its ``rnnkit sample`` and ``score``: a model of text's
sample, show_sample, score_texts = text_samples, show_text_sample, text_scores


def generator(run, label, path) -> LanguageModel:
    """The model ``rnnkit sample`` and ``score`` use: the language model as it is (it takes no ``--label``)."""
    if label is not None:
        raise ValueError(f"--label is for a conditional generator (--task generate); {path} is a language model")
    return run.model


def training_texts(run) -> set[str] | None:
    """The training split's lines, to tell novel samples from remembered ones; None when the data is gone."""
    try:
        return set(load_corpus(run.config.data).split("lines")[0])
    except ValueError:
        return None
