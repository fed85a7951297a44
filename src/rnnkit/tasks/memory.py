"""Task ``memory``: the long-memory problems of ``data.memory`` (``--data adding|copy|first``, T =
``--seq-len``), each beside the loss of an answer that remembers nothing.

    adding   float features (B, T, 2) -> the last state -> one number; mean squared error
    copy     symbols -> a unidirectional tagger -> a symbol at every step; cross-entropy per step
    first    symbols -> the last state -> one of 8 symbols; cross-entropy per sequence

Training draws fresh examples every step; validation (1,000 examples) and test (2,000) are fixed sets with
seeds of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checkpoint import load_best
from ..data.memory import COPY_LENGTH, COPY_SYMBOLS, DELIMITER, MemoryBatches, examples, memoryless_loss
from ..init import chrono
from ..losses import mse, softmax_cross_entropy
from ..models import SequenceClassifier
from ..models.tagger import SequenceTagger
from .base import model_line, option, parameters_line, run_lines

# what a TrainConfig field left as None means for this task: its built-in data and a model that does well on it
DEFAULTS = {"data": "adding", "cell": "lstm", "embed": 16, "seq_len": 100, "steps": 2000}


@dataclass
class Options:
    init: str = option("chrono", "gate biases spread over the sequence's length (chrono) or the layers' own "
                       "(standard: forget bias 1)", ("chrono", "standard"))


DATA = 'adding, copy or first (made on the fly)'  # what --data takes
WHAT = 'a long-memory model'  # what its model is, for messages
NEXT = 'look inside with: rnnkit info {out}; compare the cells with: rnnkit lab memory --out DIR'  # what to run with a trained run

VALID_SEED, TEST_SEED, VALID_SIZE, TEST_SIZE = 1_000_001, 1_000_002, 1000, 2000
CHRONO_STREAM = 3  # the chrono biases' own random stream, beside the model's seed


def build_model(config, meta: dict):
    """The model of ``meta["memory_task"]``. With ``config.options.init`` "chrono" (the default) its gate biases are
    chrono-initialised (``init.chrono``) for the sequence's length: a gated cell starts with memory time
    scales spread up to T, so a dependency T steps back is not first learned through a gradient that has
    shrunk by T contractions. "standard" keeps the layers' own initialisation (LSTM forget bias 1)."""
    task = meta["memory_task"]
    if task == "copy":
        model = SequenceTagger(DELIMITER + 1, COPY_SYMBOLS + 1, config.cell, config.hidden, config.layers,
                               bidirectional=False, embed_size=config.embed, seed=config.seed)
    elif task == "first":
        model = SequenceClassifier(COPY_SYMBOLS, vocab_size=COPY_SYMBOLS, cell=config.cell, hidden_size=config.hidden,
                                   num_layers=config.layers, embed_size=config.embed, seed=config.seed)
    else:
        model = SequenceClassifier(1, input_size=2, cell=config.cell, hidden_size=config.hidden,
                                   num_layers=config.layers, seed=config.seed)
    if config.options.init == "chrono":
        steps = config.seq_len + (2 * COPY_LENGTH if task == "copy" else 0)
        chrono(model.rnn, steps, np.random.default_rng([config.seed, CHRONO_STREAM]))
    return model


class Task:
    averages_over = "tokens"  # every example has T steps: tokens are proportional to examples

    def __init__(self, config, meta: dict | None = None):
        self.config, self.name, self.T = config, config.data, config.seq_len
        self.batches = MemoryBatches(self.name, config.batch_size, self.T, config.seed)
        self.valid = examples(self.name, VALID_SIZE, self.T, np.random.default_rng(VALID_SEED))
        self.model = build_model(config, self.metadata())

    def loss(self, x, y, training: bool = True):
        if self.name == "copy":
            return softmax_cross_entropy(self.model.forward(x, training=training), y)
        output = self.model.forward(x, training=training)
        if self.name == "adding":
            loss, grad = mse(output[:, 0], y)
            return loss, grad[:, None]
        return softmax_cross_entropy(output, y)

    def train_step(self, batch, carry):
        loss, grad = self.loss(*batch)
        self.model.backward(grad)
        return loss, None, batch[0].shape[0] * batch[0].shape[1]

    def evaluate(self, x, y) -> float:
        size = 500
        losses = [self.loss(x[i : i + size], y[i : i + size], training=False)[0] for i in range(0, len(x), size)]
        return float(np.mean(losses))

    def validate(self) -> dict:
        return {"loss": self.evaluate(*self.valid)}

    def describe_validation(self, metrics) -> str:
        return f"{metrics['loss']:.5f} (remembering nothing: {memoryless_loss(self.name, self.T):.5f})"

    def metadata(self) -> dict:
        return {"memory_task": self.name, "T": self.T, "corpus": self.name}

    def describe(self) -> str:
        return (f"{self.name} problem, T = {self.T}; {self.config.cell} with {self.model.num_params:,} parameters")

    def test_loss(self) -> float:
        return self.evaluate(*examples(self.name, TEST_SIZE, self.T, np.random.default_rng(TEST_SEED)))

    def report(self, run_dir, best_loss: float) -> list[str]:
        load_best(self.model, run_dir)
        unit = "MSE" if self.name == "adding" else "cross-entropy"
        return [f"test {unit}: {self.test_loss():.5f}; an answer that remembers nothing: "
                f"{memoryless_loss(self.name, self.T):.5f}"]


def info(config, meta: dict) -> list[str]:
    return [f"task: memory ({WHAT}): the {meta['memory_task']} problem, T = {meta['T']}", model_line(config),
            parameters_line(meta), *run_lines(meta, None, digits=5)]


def evaluate_data(run, data: str) -> tuple[dict, str]:
    """The run's loss on its problem's fixed test set (the data is generated, not read)."""
    if data != run.config.data:
        raise ValueError(f"{run.config.data!r} is what this run learned; its test set is generated, so --data must "
                         f"be {run.config.data!r}, got {data!r}")
    task = Task(run.config, run.meta)
    task.model = run.model
    result = {"loss": task.test_loss(), "baseline": memoryless_loss(task.name, task.T), "n": TEST_SIZE}
    return result, (f"{result['n']} {task.name} sequences of T = {task.T}: test loss {result['loss']:.5f} "
                    f"(remembering nothing: {result['baseline']:.5f})")
