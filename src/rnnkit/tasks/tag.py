"""Task ``tag``: many-to-many with Tx = Ty, a tag for every token, with a ``SequenceTagger``.

Data: ``spaces`` (English prose without its spaces, B/I word-boundary tags per character) or a CoNLL-style
``token<TAB>tag`` file, split 80/10/10 (fixed). Training cuts long sequences into pieces of ``--seq-len``
tokens; evaluation reads whole sequences. Metrics: token accuracy and, for B/I(/O) tags, exact-span
precision, recall and F1 (``f1``; for other tag sets ``f1`` is the tags' macro-F1), per-tag precision and
recall. Baselines: the most frequent tag of each (previous token, token) in the training split; for word
segmentation (B/I tags of characters) also the most probable split under the training split's word counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import pathlib
import re

import numpy as np

from ..baselines import DictionarySegmenter, MostFrequentTag
from ..checkpoint import load_best
from ..data import Vocabulary
from ..data.batching import LabelledBatches
from ..data.labelled import label_ids
from ..data.tagged import load_tagged, read_conll
from ..files import write_json
from ..losses import softmax_cross_entropy
from ..metrics import classification_report, span_scores
from ..models.tagger import SequenceTagger
from .base import bidirectional_option, dropout_option, labels_line, model_line, parameters_line, run_lines

# what a TrainConfig field left as None means for this task: its built-in data and a model that does well on it
DEFAULTS = {"data": "spaces", "cell": "lstm", "embed": 32, "steps": 2000}


@dataclass
class Options:
    bidirectional: bool = bidirectional_option(True)
    dropout: float = dropout_option(0.0)


DATA = 'spaces, or a token<TAB>tag file (a blank line between sentences)'  # what --data takes
WHAT = 'a tagger'  # what its model is, for messages
NEXT = 'tag with: rnnkit predict {out} TEXT'  # what to run with a trained run

SPAN_TAG = re.compile(r"[BI](-.+)?|O")


def build_model(config, meta: dict) -> SequenceTagger:
    return SequenceTagger(len(Vocabulary.from_json(meta["vocab"])), len(meta["tags"]), config.cell, config.hidden,
                          config.layers, config.options.bidirectional, config.embed, config.options.dropout,
                          seed=config.seed)


def tokens_of(text: str, level: str) -> list[str]:
    """What a tagger reads of a raw text: its characters, or its whitespace-separated words."""
    tokens = list(text) if level == "char" else text.split()
    if not tokens:
        raise ValueError(f"texts must hold at least one token, got {text!r}")
    return tokens


def scores(tags: list[str], truth: list[list[str]], guess: list[list[str]]) -> dict:
    """accuracy, f1 (exact spans for B/I/O tag sets, else macro-F1 of the tags), n, per-tag report."""
    index = {t: i for i, t in enumerate(tags)}
    flat = classification_report([index[t] for seq in truth for t in seq], [index[t] for seq in guess for t in seq],
                                 len(tags))
    if all(SPAN_TAG.fullmatch(t) for t in tags):
        flat.update(span_scores(truth, guess))
    else:
        flat["f1"] = flat["macro_f1"]
    return flat


def predict(model, meta: dict, token_seqs: list[list[str]]) -> list[list[str]]:
    """The most probable tag of every token (whole sequences, any length)."""
    vocab = Vocabulary.from_json(meta["vocab"])
    ids = [vocab.encode_tokens(tokens) for tokens in token_seqs]
    batches = LabelledBatches(ids, [np.zeros(len(s)) for s in ids], 64, max(map(len, ids)), vocab.pad)
    out = []
    for x, mask, _ in batches.in_order():
        best = model.forward(x, mask, training=False).argmax(axis=2)
        out += [[meta["tags"][k] for k in row[: n]] for row, n in zip(best, mask.sum(axis=1))]
    return out


def evaluate(model, meta: dict, token_seqs, tag_seqs) -> dict:
    """loss (nats per token), accuracy, f1 and the per-tag report of a tagger on tagged sequences."""
    vocab = Vocabulary.from_json(meta["vocab"])
    ids = [vocab.encode_tokens(tokens) for tokens in token_seqs]
    y = [label_ids(tags, meta["tags"]) for tags in tag_seqs]
    total, count, guess = 0.0, 0, []
    for x, mask, labels in LabelledBatches(ids, y, 64, max(map(len, ids)), vocab.pad).in_order():
        logits = model.forward(x, mask, training=False)
        loss, _ = softmax_cross_entropy(logits, labels, mask)
        n = int(mask.sum())
        total, count = total + loss * n, count + n
        best = logits.argmax(axis=2)
        guess += [[meta["tags"][k] for k in row[:length]] for row, length in zip(best, mask.sum(axis=1))]
    return {"loss": total / count, **scores(meta["tags"], tag_seqs, guess)}


def segment(tokens: list[str], tags: list[str]) -> str:
    """Characters tagged B/I written as words: a space before every B but the first."""
    return "".join((" " if tag == "B" and i else "") + token for i, (token, tag) in enumerate(zip(tokens, tags)))


class Task:
    averages_over = "tokens"

    def __init__(self, config, meta: dict | None = None):
        self.config = config
        data = load_tagged(config.data, config.level)
        self.corpus_name, self.parts = data.name, data.split()
        self.tags = meta["tags"] if meta is not None else sorted({t for seq in data.tags for t in seq})
        self.vocab = Vocabulary.for_run(meta and meta["vocab"], data.tokens, self.parts["train"][0], config.level,
                                        config.min_freq, config.max_vocab)
        train_ids = [self.vocab.encode_tokens(seq) for seq in self.parts["train"][0]]
        train_y = [label_ids(tags, self.tags) for tags in self.parts["train"][1]]
        L = config.seq_len
        pieces = [(s[i : i + L], y[i : i + L]) for s, y in zip(train_ids, train_y) for i in range(0, len(s), L)]
        self.batches = LabelledBatches([p[0] for p in pieces], [p[1] for p in pieces], config.batch_size, L,
                                       self.vocab.pad, config.seed)
        self.model = build_model(config, self.metadata())

    def train_step(self, batch, carry):
        x, mask, y = batch
        loss, dlogits = softmax_cross_entropy(self.model.forward(x, mask), y, mask)
        self.model.backward(dlogits)
        return loss, None, int(mask.sum())

    def validate(self) -> dict:
        result = evaluate(self.model, self.metadata(), *self.parts["valid"])
        return {k: result[k] for k in ("loss", "accuracy", "f1")}

    @staticmethod
    def describe_validation(metrics) -> str:
        return f"loss {metrics['loss']:.4f}, accuracy {metrics['accuracy']:.2%}, F1 {metrics['f1']:.4f}"

    def metadata(self) -> dict:
        return {"vocab": self.vocab.to_json(), "tags": self.tags, "corpus": self.corpus_name}

    def describe(self) -> str:
        sizes = "/".join(str(len(self.parts[p][0])) for p in ("train", "valid", "test"))
        tokens = sum(map(len, self.parts["train"][0]))
        return (f"{self.corpus_name}: {sizes} train/valid/test sequences ({tokens:,} training tokens), "
                f"{len(self.tags)} tags, {len(self.vocab)} {self.config.level} tokens; "
                f"{'bidirectional ' if self.config.options.bidirectional else ''}{self.config.cell} tagger, "
                f"{self.model.num_params:,} parameters")

    def report(self, run_dir, best_loss: float) -> list[str]:
        """Test metrics of the best checkpoint beside the baselines; writes test_report.json."""
        run_dir = pathlib.Path(run_dir)
        load_best(self.model, run_dir)
        tokens, tags = self.parts["test"]
        test = evaluate(self.model, self.metadata(), tokens, tags)
        train = self.parts["train"]
        baselines = {"the most frequent tag of (previous token, token)": MostFrequentTag(*train)}
        if set(self.tags) == {"B", "I"} and self.config.level == "char":
            baselines["the most probable split into the training split's words"] = DictionarySegmenter(*train)
        lines = [f"test split ({len(tokens)} sequences, {test['n']:,} tokens), best checkpoint: "
                 f"accuracy {test['accuracy']:.2%}, F1 {test['f1']:.4f}", "baselines fitted on the same training split:"]
        summary = {"model": {k: test[k] for k in ("accuracy", "f1", "loss", "n")}, "baselines": {}}
        for name, baseline in baselines.items():
            base = scores(self.tags, tags, [baseline.predict(seq) for seq in tokens])
            lines.append(f"  {name}: accuracy {base['accuracy']:.2%}, F1 {base['f1']:.4f}")
            summary["baselines"][name] = {k: base[k] for k in ("accuracy", "f1")}
        lines.append(f"{'tag':<12} {'precision':>9} {'recall':>7} {'support':>8}")
        for k, tag in enumerate(self.tags):
            lines.append(f"{tag:<12} {test['precision'][k]:9.3f} {test['recall'][k]:7.3f} {test['support'][k]:8d}")
        if set(self.tags) == {"B", "I"}:
            guess = predict(self.model, self.metadata(), tokens[:3])
            lines += ["segmented test sequences:"] + [f"  {segment(t, g)}" for t, g in zip(tokens[:3], guess)]
        summary["per_tag"] = {t: {"precision": test["precision"][k], "recall": test["recall"][k],
                                  "support": test["support"][k]} for k, t in enumerate(self.tags)}
        write_json(run_dir / "test_report.json", summary)
        return lines


def info(config, meta: dict) -> list[str]:
    vocab = Vocabulary.from_json(meta["vocab"])
    shape = ", bidirectional" if config.options.bidirectional else ""
    return [f"task: tag ({WHAT})",
            model_line(config, f", embedding {config.embed}, dropout {config.options.dropout}{shape}"),
            parameters_line(meta), labels_line(meta, vocab, meta["tags"]), *run_lines(meta, "token")]


def evaluate_data(run, data: str) -> tuple[dict, str]:
    """Accuracy, span F1 and loss on a CoNLL file (a token and its tag per line, a blank line between)."""
    table = read_conll(data, run.meta["vocab"]["level"])
    r = evaluate(run.model, run.meta, table.tokens, table.tags)
    return ({k: r[k] for k in ("accuracy", "f1", "loss", "n")},
            f"{r['n']} tokens: accuracy {r['accuracy']:.2%}, F1 {r['f1']:.4f}, loss {r['loss']:.4f}")


PREDICT_OPTIONS = ()


def predict_texts(run, texts: list[str]) -> list[dict]:
    """Each text's tokens and their tags: {"text", "tokens", "tags"}."""
    level = run.meta["vocab"]["level"]
    token_seqs = [tokens_of(text, level) for text in texts]
    return [{"text": text, "tokens": tokens, "tags": tags}
            for text, tokens, tags in zip(texts, token_seqs, predict(run.model, run.meta, token_seqs))]


def show_prediction(run, record: dict) -> str:
    """A word-boundary tagger's text cut into words; any other's token/tag pairs."""
    if run.meta["vocab"]["level"] == "char" and set(run.meta["tags"]) == {"B", "I"}:
        return segment(record["tokens"], record["tags"])
    return " ".join(f"{token}/{t}" for token, t in zip(record["tokens"], record["tags"]))
