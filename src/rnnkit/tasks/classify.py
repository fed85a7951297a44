"""Task ``classify``: many-to-one, a text -> one label, with a ``SequenceClassifier``.

Data: ``names-origin`` (a name -> the language it comes from) or a ``text<TAB>label`` file, split into
training, validation and test data (stratified, deterministic). Texts are cut to ``--seq-len`` tokens.
Validation reports loss, accuracy and macro-F1; the final report gives the test split's metrics, per-class
precision and recall and a confusion matrix (``confusion.png``), beside two baselines fitted on the same
training split: naive Bayes over n-grams (smoothing chosen on validation) and the majority class.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np

from ..baselines import best_naive_bayes
from ..checkpoint import load_best
from ..data import Vocabulary
from ..data.batching import LabelledBatches
from ..data.labelled import LabelledData, encode, label_ids, read_tsv
from ..files import write_json
from ..losses import softmax_cross_entropy
from ..metrics import classification_report
from ..models import SequenceClassifier
from ..plots import plot_confusion
from .base import bidirectional_option, dropout_option, labels_line, model_line, option, parameters_line, run_lines

# what a TrainConfig field left as None means for this task: its built-in data and a model that does well on it
DEFAULTS = {"data": "names-origin", "cell": "gru", "embed": 64, "steps": 4000}


@dataclass
class Options:
    pool: str = option("last", "how the steps' outputs become one vector", ("last", "mean", "max"))
    bidirectional: bool = bidirectional_option(True)
    dropout: float = dropout_option(0.5)


DATA = 'names-origin, or a text<TAB>label file'  # what --data takes
WHAT = 'a classifier'  # what its model is, for messages
NEXT = 'predict with: rnnkit predict {out} TEXT'  # what to run with a trained run


def build_model(config, meta: dict) -> SequenceClassifier:
    return SequenceClassifier(len(meta["labels"]), vocab_size=len(Vocabulary.from_json(meta["vocab"])),
                              cell=config.cell, hidden_size=config.hidden, num_layers=config.layers,
                              bidirectional=config.options.bidirectional, embed_size=config.embed,
                              pool=config.options.pool, dropout=config.options.dropout, seed=config.seed)


def evaluate(model, batches: LabelledBatches) -> dict:
    """Loss, accuracy, macro-F1, n and the per-class report over every sequence of ``batches``."""
    total, predictions = 0.0, []
    for x, mask, y in batches.in_order():
        logits = model.forward(x, mask, training=False)
        loss, _ = softmax_cross_entropy(logits, y)
        total += loss * len(y)
        predictions.append(logits.argmax(axis=1))
    report = classification_report(batches.labels, np.concatenate(predictions), model.config["num_classes"])
    return {"loss": total / len(batches.labels), **report}


def probabilities(model, meta: dict, config, texts: list[str]) -> np.ndarray:
    """p(label | text), (N, K), for raw texts, with the run's vocabulary and cut to its --seq-len."""
    vocab = Vocabulary.from_json(meta["vocab"])
    batches = LabelledBatches(encode(vocab, texts), np.zeros(len(texts)), 256, config.seq_len, vocab.pad)
    return np.concatenate([model.probabilities(x, mask) for x, mask, _ in batches.in_order()])


def evaluate_texts(model, meta: dict, config, texts: list[str], labels: list[str]) -> dict:
    vocab = Vocabulary.from_json(meta["vocab"])
    y = label_ids(labels, meta["labels"])
    return evaluate(model, LabelledBatches(encode(vocab, texts), y, 256, config.seq_len, vocab.pad))


class Task(LabelledData):
    averages_over = "sequences"  # the loss is a mean over the batch's texts

    def __init__(self, config, meta: dict | None = None):
        self.config = config
        super().__init__(config, meta)
        self.batches = self.split_batches("train", config.seed)
        self.valid = self.split_batches("valid")
        self.model = build_model(config, self.metadata())

    def split_batches(self, part: str, seed: int = 0) -> LabelledBatches:
        return LabelledBatches(self.ids[part], self.y[part], self.config.batch_size, self.config.seq_len,
                               self.vocab.pad, seed)

    def train_step(self, batch, carry):
        x, mask, y = batch
        loss, dlogits = softmax_cross_entropy(self.model.forward(x, mask), y)
        self.model.backward(dlogits)
        return loss, None, int(mask.sum())

    def validate(self) -> dict:
        result = evaluate(self.model, self.valid)
        return {k: result[k] for k in ("loss", "accuracy", "macro_f1")}

    @staticmethod
    def describe_validation(metrics) -> str:
        return f"loss {metrics['loss']:.4f}, accuracy {metrics['accuracy']:.1%}, macro-F1 {metrics['macro_f1']:.3f}"

    def metadata(self) -> dict:
        return {"vocab": self.vocab.to_json(), "labels": self.labels, "corpus": self.corpus_name}

    def describe(self) -> str:
        sizes = "/".join(str(len(self.ids[p])) for p in ("train", "valid", "test"))
        cut = sum(len(s) > self.config.seq_len for s in self.ids["train"])
        options = self.config.options
        return (f"{self.corpus_name}: {sum(map(len, self.ids.values())):,} texts ({sizes} train/valid/test), "
                f"{len(self.labels)} labels, {len(self.vocab)} {self.config.level} tokens"
                + (f", {self.dropped} ambiguous names left out" if self.dropped else "")
                + (f", {cut} training texts cut to --seq-len {self.config.seq_len}" if cut else "")
                + f"; {'bidirectional ' if options.bidirectional else ''}{self.config.cell}, {options.pool} "
                f"pooling, {self.model.num_params:,} parameters")

    def baselines(self, texts: list[str]) -> dict:
        """Predictions of naive Bayes and of the majority class for ``texts``, fitted on the training split."""
        bayes = best_naive_bayes(self.parts["train"][0], self.y["train"], self.parts["valid"][0], self.y["valid"],
                                 len(self.labels), self.config.level)
        majority = np.bincount(self.y["train"], minlength=len(self.labels)).argmax()
        return {f"naive Bayes ({self.config.level} n-grams, alpha={bayes.alpha})": bayes.predict(texts),
                f"majority class ({self.labels[majority]})": np.full(len(texts), majority)}

    def report(self, run_dir, best_loss: float) -> list[str]:
        """Test metrics of the best checkpoint beside the baselines; writes confusion.png and test_report.json."""
        run_dir = pathlib.Path(run_dir)
        load_best(self.model, run_dir)
        test = evaluate(self.model, self.split_batches("test"))
        lines = [f"test split ({test['n']} texts), best checkpoint: accuracy {test['accuracy']:.1%}, "
                 f"macro-F1 {test['macro_f1']:.3f}", "baselines fitted on the same training split:"]
        summary = {"model": {k: test[k] for k in ("accuracy", "macro_f1", "loss", "n")}}
        for name, predicted in self.baselines(self.parts["test"][0]).items():
            r = classification_report(self.y["test"], predicted, len(self.labels))
            lines.append(f"  {name}: accuracy {r['accuracy']:.1%}, macro-F1 {r['macro_f1']:.3f}")
            summary[name] = {"accuracy": r["accuracy"], "macro_f1": r["macro_f1"]}
        lines.append(f"{'label':<16} {'precision':>9} {'recall':>7} {'support':>8}")
        for k, label in enumerate(self.labels):
            lines.append(f"{label:<16} {test['precision'][k]:9.3f} {test['recall'][k]:7.3f} {test['support'][k]:8d}")
        plot_confusion(run_dir / "confusion.png", test["confusion"], self.labels,
                       f"{self.corpus_name}, test split: accuracy {test['accuracy']:.1%}")
        summary["confusion"] = {"labels": self.labels, "rows_true_columns_predicted": test["confusion"]}
        summary["per_class"] = {label: {"precision": test["precision"][k], "recall": test["recall"][k],
                                        "support": test["support"][k]} for k, label in enumerate(self.labels)}
        write_json(run_dir / "test_report.json", summary)
        lines.append(f"confusion matrix: {run_dir / 'confusion.png'}; all of it: {run_dir / 'test_report.json'}")
        return lines


def info(config, meta: dict) -> list[str]:
    vocab = Vocabulary.from_json(meta["vocab"])
    pooling = f", {'bidirectional, ' if config.options.bidirectional else ''}{config.options.pool} pooling"
    return [f"task: classify ({WHAT})",
            model_line(config, f", embedding {config.embed}, dropout {config.options.dropout}{pooling}"),
            parameters_line(meta), labels_line(meta, vocab, meta["labels"]), *run_lines(meta, "text")]


def evaluate_data(run, data: str) -> tuple[dict, str]:
    """Accuracy, macro-F1 and loss on a ``text<TAB>label`` file."""
    table = read_tsv(data)
    r = evaluate_texts(run.model, run.meta, run.config, table.texts, table.labels)
    return ({k: r[k] for k in ("accuracy", "macro_f1", "loss", "n")},
            f"{r['n']} texts: accuracy {r['accuracy']:.1%}, macro-F1 {r['macro_f1']:.3f}, loss {r['loss']:.4f}")


PREDICT_OPTIONS = ("top",)


def predict_texts(run, texts: list[str], top: int = 1) -> list[dict]:
    """The ``top`` most probable labels of each text: {"text", "labels": [{"label", "p"}, ...]}."""
    if not isinstance(top, int) or top < 1:
        raise ValueError(f"--top must be a positive int, got {top}")
    labels, p = run.meta["labels"], probabilities(run.model, run.meta, run.config, texts)
    return [{"text": text, "labels": [{"label": labels[k], "p": float(row[k])}
                                      for k in np.argsort(-row, kind="stable")[:top]]}
            for text, row in zip(texts, p)]


def show_prediction(run, record: dict) -> str:
    return "  ".join(f"{x['label']} {x['p']:.3f}" for x in record["labels"]) + f"\t{record['text']}"
