"""Task ``translate``: many-to-many with Tx != Ty, a sequence -> another, with a ``Seq2Seq``.

Data: ``dates`` (dates as people write them, in 8 languages -> ISO 8601) or a ``source<TAB>target`` file,
split by target (the test split holds targets the training split never saw). Sources and targets have
their own vocabularies and may not exceed ``--seq-len`` tokens. Metrics: exact match and character error
rate of greedy decoding (``--beam W`` in ``predict``). The baselines a user would reach for, on the same
test inputs: for ``dates``, the parsers ``dateparser`` and ``dateutil.parser`` (an exception or no result
is a miss); for other data, copying the source. The report plots the attention of 3 test inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pathlib

import numpy as np

from .. import generate
from ..checkpoint import load_best
from ..data import Vocabulary
from ..data.batching import PairBatches
from ..data.labelled import read_tsv
from ..data.pairs import load_pairs
from ..files import write_json
from ..losses import softmax_cross_entropy
from ..metrics import exact_match_and_cer
from ..models.seq2seq import Seq2Seq
from ..plots import plot_attention as draw_attention
from .base import bidirectional_option, model_line, option, parameters_line, run_lines

# what a TrainConfig field left as None means for this task: its built-in data and a model that does well on it
DEFAULTS = {"data": "dates", "cell": "gru", "embed": 32, "steps": 1000}


@dataclass
class Options:
    attention: bool = option(True, "the decoder attends to the encoder's states")
    bidirectional: bool = bidirectional_option(True, "the encoder reads the source both ways")


DATA = 'dates, or a source<TAB>target file'  # what --data takes
WHAT = 'an encoder-decoder'  # what its model is, for messages
NEXT = 'translate with: rnnkit predict {out} TEXT'  # what to run with a trained run


def build_model(config, meta: dict) -> Seq2Seq:
    return Seq2Seq(len(Vocabulary.from_json(meta["source_vocab"])), len(Vocabulary.from_json(meta["target_vocab"])),
                   config.cell, config.hidden, config.layers, config.options.bidirectional, config.embed,
                   config.options.attention,
                   seed=config.seed)


def encode(vocab: Vocabulary, texts: list[str], limit: int, side: str) -> list[np.ndarray]:
    """Ids of each text; an empty text, or one longer than ``limit`` tokens, is an error that names it."""
    ids = [vocab.encode(text) for text in texts]
    for text, seq in zip(texts, ids):
        if not 0 < len(seq) <= limit:
            raise ValueError(f"{side} {text[:40]!r} has {len(seq)} tokens; the model reads 1 to {limit} "
                             "(--seq-len when training)")
    return ids


def translate(model, meta: dict, limit: int, texts: list[str], beam: int | None = None):
    """Each text's decoded target (greedy, or the best of a beam search), and the attention weights of each
    (Ty, Tx) for greedy decoding."""
    source_vocab, target_vocab = (Vocabulary.from_json(meta[k]) for k in ("source_vocab", "target_vocab"))
    ids = encode(source_vocab, texts, limit, "source")
    if beam is not None:
        return [generate.beam_search(model.decoder_for(s[None]), target_vocab, target_vocab.eos, width=beam,
                                     max_len=limit)[0][0] for s in ids], None
    out, weights = [], []
    batches = PairBatches(ids, [np.zeros(1, np.int64)] * len(ids), 256, target_vocab.eos, source_vocab.pad)
    for source, source_mask, *_ in batches.in_order():
        decoding = model.decoder_for(source, source_mask)
        texts_out = generate.sample(decoding, target_vocab, target_vocab.eos, n=len(source), max_len=limit,
                                    temperature=0)
        out += texts_out
        if decoding.alphas[0] is not None:
            alpha = np.concatenate(decoding.alphas, axis=1)  # (B, steps, Tx)
            weights += [a[: len(target_vocab.encode(t)) + 1, : n] for a, t, n in
                        zip(alpha, texts_out, source_mask.sum(axis=1))]
    return out, weights or None


def loss_of(model, meta: dict, limit: int, sources: list[str], targets: list[str]) -> float:
    """Teacher-forced cross-entropy in nats per target token (and <EOS>) of source -> target pairs."""
    source_vocab, target_vocab = (Vocabulary.from_json(meta[k]) for k in ("source_vocab", "target_vocab"))
    batches = PairBatches(encode(source_vocab, sources, limit, "source"), encode(target_vocab, targets, limit, "target"),
                          256, target_vocab.eos, target_vocab.pad)
    total, count = 0.0, 0
    for source, source_mask, target_in, target_out, target_mask in batches.in_order():
        logits, _ = model.forward(source, target_in, source_mask, target_mask, training=False)
        n = int(target_mask.sum())
        total, count = total + softmax_cross_entropy(logits, target_out, target_mask)[0] * n, count + n
    return total / count


def parser_baselines(sources: list[str], targets: list[str]) -> dict:
    """Exact match and CER of dateparser and dateutil.parser on the same inputs (failures are misses)."""
    import dateparser
    from dateutil import parser as dateutil_parser

    def iso(parse, text):
        try:
            value = parse(text)
        except (ValueError, OverflowError, TypeError):
            return ""
        return "" if value is None else value.date().isoformat()

    return {name: exact_match_and_cer([iso(parse, s) for s in sources], targets)
            for name, parse in (("dateparser", dateparser.parse), ("dateutil.parser", dateutil_parser.parse))}


class Task:
    averages_over = "tokens"  # of the targets

    def __init__(self, config, meta: dict | None = None):
        self.config = config
        data = load_pairs(config.data)
        self.corpus_name, self.parts = data.name, data.split()
        train = self.parts["train"]
        self.source_vocab, self.target_vocab = (
            Vocabulary.for_run(meta and meta[f"{side}_vocab"], texts, train[i], config.level, config.min_freq,
                               config.max_vocab)
            for i, (side, texts) in enumerate((("source", data.sources), ("target", data.targets))))
        self.ids = {part: (encode(self.source_vocab, sources, config.seq_len, "source"),
                           encode(self.target_vocab, targets, config.seq_len, "target"))
                    for part, (sources, targets) in self.parts.items()}
        self.batches = self.split_batches("train", config.seed)
        self.model = build_model(config, self.metadata())

    def split_batches(self, part: str, seed: int = 0) -> PairBatches:
        return PairBatches(*self.ids[part], self.config.batch_size, self.target_vocab.eos, self.target_vocab.pad,
                           seed)

    def train_step(self, batch, carry):
        source, source_mask, target_in, target_out, target_mask = batch
        logits, _ = self.model.forward(source, target_in, source_mask, target_mask)
        loss, dlogits = softmax_cross_entropy(logits, target_out, target_mask)
        self.model.backward(dlogits)
        return loss, None, int(target_mask.sum())

    def scores(self, part: str) -> dict:
        sources, targets = self.parts[part]
        predicted, _ = translate(self.model, self.metadata(), self.config.seq_len, sources)
        loss = loss_of(self.model, self.metadata(), self.config.seq_len, sources, targets)
        return {"loss": loss, **exact_match_and_cer(predicted, targets)}

    def validate(self) -> dict:
        result = self.scores("valid")
        return {k: result[k] for k in ("loss", "exact_match", "cer")}

    @staticmethod
    def describe_validation(metrics) -> str:
        return f"loss {metrics['loss']:.4f}, exact match {metrics['exact_match']:.2%}, CER {metrics['cer']:.4f}"

    def metadata(self) -> dict:
        return {"source_vocab": self.source_vocab.to_json(), "target_vocab": self.target_vocab.to_json(),
                "corpus": self.corpus_name}

    def describe(self) -> str:
        sizes = "/".join(str(len(self.parts[p][0])) for p in ("train", "valid", "test"))
        c = self.config
        return (f"{self.corpus_name}: {sizes} train/valid/test pairs, {len(self.source_vocab)} source and "
                f"{len(self.target_vocab)} target {c.level} tokens; "
                f"{'bidirectional ' if c.options.bidirectional else ''}{c.cell} encoder-decoder"
                f"{' with attention' if c.options.attention else ''}, {self.model.num_params:,} "
                "parameters")

    def report(self, run_dir, best_loss: float) -> list[str]:
        """Test metrics of the best checkpoint beside the baselines; attention.png; test_report.json."""
        run_dir = pathlib.Path(run_dir)
        load_best(self.model, run_dir)
        sources, targets = self.parts["test"]
        test = self.scores("test")
        lines = [f"test split ({test['n']} pairs, targets never seen in training), best checkpoint: exact match "
                 f"{test['exact_match']:.2%}, CER {test['cer']:.4f}", "baselines on the same test inputs:"]
        baselines = (parser_baselines(sources, targets) if self.corpus_name == "dates"
                     else {"copy the source": exact_match_and_cer(sources, targets)})
        for name, r in baselines.items():
            lines.append(f"  {name}: exact match {r['exact_match']:.2%}, CER {r['cer']:.4f}")
        summary = {"model": test, "baselines": baselines}
        write_json(run_dir / "test_report.json", summary)
        shown, weights = translate(self.model, self.metadata(), self.config.seq_len, sources[:3])
        for source, target, output in zip(sources[:3], targets[:3], shown):
            lines.append(f"  {source!r} -> {output!r} (expected {target!r})")
        if weights is not None:
            draw_attention(run_dir / "attention.png", sources[:3], shown, weights, self.source_vocab,
                           self.target_vocab)
            lines.append(f"attention of these three: {run_dir / 'attention.png'}")
        return lines


def info(config, meta: dict) -> list[str]:
    source, target = (Vocabulary.from_json(meta[f"{side}_vocab"]) for side in ("source", "target"))
    shape = (f"{', bidirectional encoder' if config.options.bidirectional else ''}"
             f"{', attention' if config.options.attention else ', no attention'}")
    return [f"task: translate ({WHAT})",
            model_line(config, f", embedding {config.embed}{shape}"), parameters_line(meta),
            f"data: {meta['corpus']} ({source.level} level, source vocabulary {len(source)}, target vocabulary "
            f"{len(target)})", *run_lines(meta, source.level)]


def evaluate_data(run, data: str) -> tuple[dict, str]:
    """Exact match, character error rate and loss on a ``source<TAB>target`` file."""
    table = read_tsv(data, "source", "target")
    outputs, _ = translate(run.model, run.meta, run.config.seq_len, table.texts)
    loss = loss_of(run.model, run.meta, run.config.seq_len, table.texts, table.labels)
    result = {**exact_match_and_cer(outputs, table.labels), "loss": loss}
    return result, (f"{result['n']} pairs: exact match {result['exact_match']:.2%}, CER {result['cer']:.4f}, "
                    f"loss {result['loss']:.4f}")


PREDICT_OPTIONS = ("beam", "plot_attention")


def predict_texts(run, texts: list[str], beam: int | None = None, plot_attention=None) -> list[dict]:
    """Each text's translation, {"text", "translation"}: greedy, or by beam search of width ``beam``. With
    ``plot_attention`` (a folder), a heat map of the greedy decoder's attention per text goes there,
    ``attention-<i>.png``."""
    if beam is not None and (not isinstance(beam, int) or beam < 1):
        raise ValueError(f"--beam must be a positive int, got {beam}")
    folder = None if plot_attention is None else pathlib.Path(plot_attention)
    if folder is not None:
        if beam is not None:
            raise ValueError("--plot-attention shows greedy decoding; it does not go with --beam")
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"--plot-attention {str(plot_attention)!r} is a file; give a folder for the heat maps")
        if not run.config.options.attention:
            raise ValueError("this run has no attention (trained with --no-attention)")
    outputs, weights = translate(run.model, run.meta, run.config.seq_len, texts, beam)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        vocabs = [Vocabulary.from_json(run.meta[k]) for k in ("source_vocab", "target_vocab")]
        for i, (text, output, alpha) in enumerate(zip(texts, outputs, weights), start=1):
            draw_attention(folder / f"attention-{i}.png", [text], [output], [alpha], *vocabs)
    return [{"text": text, "translation": output} for text, output in zip(texts, outputs)]


def show_prediction(run, record: dict) -> str:
    return f"{record['translation']}\t{record['text']}"
