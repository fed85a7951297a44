"""Task ``generate``: one-to-many, a label -> a sequence, with a conditional ``LanguageModel``.

Trained with teacher forcing on ``names-origin`` (or a ``text<TAB>label`` file): each text is a sequence
framed by <EOS>, its label's embedding joins every input step. Sampled with the ordinary samplers through
``model.given(label)``. The final report, on the test split, gives the cross-entropy beside a trigram model
per label (the baseline: add-k, k chosen on validation), and for samples of every label, from the model
and from the baseline, their novelty (share not in the training data) and how often a judge, naive Bayes
fitted on the training split, assigns a sample to the label it was generated for.
"""

from __future__ import annotations

from dataclasses import dataclass

import pathlib

import numpy as np

from .. import generate
from ..baselines import ADD_K, NGram, best_naive_bayes
from ..checkpoint import load_best
from ..data import LineBatches, Vocabulary
from ..data.labelled import LabelledData, label_ids, load_labelled, read_tsv
from ..losses import softmax_cross_entropy
from ..models import LanguageModel
from .base import (TEXT_SAMPLE_OPTIONS, dropout_option, labels_line, model_line, parameters_line, run_lines,
                   sample_every_option, scored, show_text_sample, text_samples,
                   text_scores)

# what a TrainConfig field left as None means for this task: its built-in data and a model that does well on it
DEFAULTS = {"data": "names-origin", "cell": "lstm", "embed": 32, "steps": 2000}


@dataclass
class Options:
    sample_every: int = sample_every_option(1000)
    dropout: float = dropout_option(0.0)


DATA = 'names-origin, or a text<TAB>label file'  # what --data takes
WHAT = 'a conditional generator'  # what its model is, for messages
NEXT = 'sample with: rnnkit sample {out} --label LABEL'  # what to run with a trained run

SAMPLES_PER_LABEL = 50


def build_model(config, meta: dict) -> LanguageModel:
    return LanguageModel(len(Vocabulary.from_json(meta["vocab"])), config.cell, config.hidden, config.layers,
                         config.embed, config.options.dropout, seed=config.seed, num_labels=len(meta["labels"]),
                         label_size=config.embed)


class LabelledLines:
    """Line batches (x, y, mask) of a language model, with each line's label: (x, y, mask, labels)."""

    carries_state = False

    def __init__(self, lines: LineBatches, labels: np.ndarray):
        self.lines, self.labels = lines, labels
        self.batches_per_epoch = lines.batches_per_epoch

    def batch(self, epoch: int, index: int):
        return (*self.lines.batch(epoch, index), self.labels[self.lines.chosen(epoch, index)])

    def in_order(self):
        size = self.lines.batch_size
        for i, batch in enumerate(self.lines.in_order()):
            yield (*batch, self.labels[i * size : (i + 1) * size])


class Task(LabelledData):
    averages_over = "tokens"

    def __init__(self, config, meta: dict | None = None):
        self.config = config
        super().__init__(config, meta)
        self.train_texts = set(self.parts["train"][0])
        self.batches = self.split_batches("train", config.seed)
        self.valid = self.split_batches("valid")
        self.model = build_model(config, self.metadata())

    def split_batches(self, part: str, seed: int = 0) -> LabelledLines:
        v = self.vocab
        lines = LineBatches(self.ids[part], self.config.batch_size, self.config.seq_len, v.eos, v.pad, seed)
        return LabelledLines(lines, self.y[part])

    def train_step(self, batch, carry):
        x, y, mask, labels = batch
        logits, _ = self.model.forward(x, None, mask, labels=labels)
        loss, dlogits = softmax_cross_entropy(logits, y, mask)
        self.model.backward(dlogits)
        return loss, None, int(mask.sum())

    def cross_entropy(self, batches: LabelledLines) -> float:
        total, count = 0.0, 0
        for x, y, mask, labels in batches.in_order():
            logits, _ = self.model.forward(x, None, mask, training=False, labels=labels)
            n = int(mask.sum())
            total, count = total + softmax_cross_entropy(logits, y, mask)[0] * n, count + n
        return total / count

    def validate(self) -> dict:
        return {"loss": self.cross_entropy(self.valid)}

    def describe_validation(self, metrics) -> str:
        return f"{metrics['loss']:.4f} nats/{self._unit()}"

    def _unit(self) -> str:
        return "char" if self.config.level == "char" else "token"

    def samples(self, label: int, n: int, seed: int) -> list[str]:
        return generate.sample(self.model.given(label), self.vocab, self.vocab.eos, n=n, max_len=50,
                               rng=np.random.default_rng([seed, label]))

    def show(self, seed: int) -> list[str]:
        chosen = np.random.default_rng(seed).choice(len(self.labels), size=min(3, len(self.labels)), replace=False)
        return [f"sample ({self.labels[k]}): {self.samples(int(k), 1, seed)[0]!r}" for k in chosen]

    def metadata(self) -> dict:
        return {"vocab": self.vocab.to_json(), "labels": self.labels, "corpus": self.corpus_name,
                "start": int(self.vocab.eos), "mode": "lines"}

    def describe(self) -> str:
        sizes = "/".join(str(len(self.ids[p])) for p in ("train", "valid", "test"))
        return (f"{self.corpus_name}: {sizes} train/valid/test texts, {len(self.labels)} labels, {len(self.vocab)} "
                f"{self.config.level} tokens; conditional {self.config.cell} with {self.model.num_params:,} parameters")

    def trigrams(self) -> list[NGram]:
        """One trigram model per label, fitted on its training texts, add-k chosen on the validation split."""
        models = [NGram([s for s, c in zip(self.ids["train"], self.y["train"]) if c == label], self.vocab.eos,
                        len(self.vocab) - 1) for label in range(len(self.labels))]

        def loss_at(k: float) -> float:
            for model in models:
                model.k = k
            return self._ngram_loss(models, "valid")

        best = min(ADD_K, key=loss_at)
        for model in models:
            model.k = best
        return models

    def _ngram_loss(self, models: list[NGram], part: str) -> float:
        totals = [models[c].log_prob(s) for s, c in zip(self.ids[part], self.y[part])]
        return -sum(t[0] for t in totals) / sum(t[1] for t in totals)

    def report(self, run_dir, best_loss: float) -> list[str]:
        load_best(self.model, pathlib.Path(run_dir))
        unit = self._unit()
        trigrams = self.trigrams()
        lines = [f"test cross-entropy: {self.cross_entropy(self.split_batches('test')):.4f} nats/{unit}; "
                 f"a trigram per label (k={trigrams[0].k}): {self._ngram_loss(trigrams, 'test'):.4f} nats/{unit}"]
        judge = best_naive_bayes(self.parts["train"][0], self.y["train"], self.parts["valid"][0], self.y["valid"],
                                 len(self.labels), self.config.level)
        judge_accuracy = np.mean(judge.predict(self.parts["test"][0]) == self.y["test"])
        rng = np.random.default_rng(self.config.seed)
        drawn = {"model": [], "trigram": []}
        for k in range(len(self.labels)):
            drawn["model"] += [(k, s) for s in self.samples(k, SAMPLES_PER_LABEL, self.config.seed)]
            drawn["trigram"] += [(k, self.vocab.decode(trigrams[k].sample(rng))) for _ in range(SAMPLES_PER_LABEL)]
        lines.append(f"{SAMPLES_PER_LABEL} samples per label; judge: naive Bayes on the training split "
                     f"({judge_accuracy:.1%} accurate on real test names)")
        for source, pairs in drawn.items():
            novel = np.mean([text not in self.train_texts for _, text in pairs])
            agree = judge_agreement(judge.predict([t for _, t in pairs]), [k for k, _ in pairs])
            lines.append(f"  {source:<8} {novel:6.1%} novel, {agree:6.1%} judged as the label they were generated for")
        lines.append("samples:")
        for k in range(min(len(self.labels), 6)):
            mine = [t for c, t in drawn["model"] if c == k][:5]
            lines.append(f"  {self.labels[k]:<12} {', '.join(mine)}")
        return lines


def judge_agreement(predicted, wanted) -> float:
    """The share of samples a classifier assigns to the label they were generated for."""
    return float(np.mean(np.asarray(predicted) == np.asarray(wanted)))


def info(config, meta: dict) -> list[str]:
    vocab = Vocabulary.from_json(meta["vocab"])
    return [f"task: generate ({WHAT})",
            model_line(config, f", embedding {config.embed}, dropout {config.options.dropout}"),
            parameters_line(meta), labels_line(meta, vocab, meta["labels"]), *run_lines(meta, vocab.level)]


def evaluate_data(run, data: str) -> tuple[dict, str]:
    """Loss, perplexity and bits per token of each text of a ``text<TAB>label`` file given its label."""
    meta, vocab = run.meta, Vocabulary.from_json(run.meta["vocab"])
    table = read_tsv(data)
    ids = label_ids(table.labels, meta["labels"])
    return scored([generate.score(run.model.given(int(k)), vocab, meta["start"], t) for t, k in zip(table.texts, ids)],
                  vocab)


SAMPLE_OPTIONS = TEXT_SAMPLE_OPTIONS + ("label", "judge")
# its ``rnnkit sample`` and ``score``: a model of text's
sample, show_sample, score_texts = text_samples, show_text_sample, text_scores


def generator(run, label, path) -> LanguageModel:
    """The model ``rnnkit sample`` and ``score`` use: the generator bound to ``label``, which it needs."""
    known = run.meta["labels"]
    if label is None:
        raise ValueError(f"{path} is a conditional generator: give --label, one of {', '.join(known)}")
    return run.model.given(int(label_ids([label], known)[0]))


def training_texts(run) -> set[str] | None:
    """The training split's texts, to tell novel samples from remembered ones; None when the data is gone."""
    try:
        return set(load_labelled(run.config.data).split()["train"][0])
    except ValueError:
        return None
