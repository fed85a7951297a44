"""What a task module is (``TaskModule``) and what task modules share: their common options, the lines
``rnnkit info`` prints for any run, and sampling from a model of text.

A task is a module, and ``TaskModule`` is a ``typing.Protocol`` rather than a base class: what a task declares is
constants (its defaults, options, data, words for messages) and functions (its verbs), and a module satisfies a
Protocol as it is, structurally, with no class to derive from or instantiate (type checkers check modules against
Protocols; ``missing`` checks at run time, for the tests). The state of a training run lives in the module's
``Task`` class, which the trainer drives (``tasks/__init__.py`` lists what it calls).

Every verb of a trained run takes the loaded run (``runs.Run``) and plain values and returns plain values: texts,
records (dicts, what ``--json`` prints), lines for people.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np

from .. import _checks, generate
from ..data import Vocabulary
from ..options import option



class TaskModule(Protocol):
    """What ``tasks.MODULES`` holds for each task name."""

    DEFAULTS: dict  # what a shared TrainConfig field left as None means for the task
    Options: type  # a dataclass of the task's own options, each an ``options.option``: config.options
    DATA: str  # what --data takes
    WHAT: str  # what its model is, for messages ("a classifier")
    NEXT: str  # what to run next with a trained run, "{out}" standing for its folder
    Task: Callable[..., Any]  # Task(config, meta or None): the training run's task (tasks/__init__.py)

    def build_model(self, config, meta: dict) -> Any:
        """The model of a saved run, rebuilt from its config and metadata without its data."""

    def info(self, config, meta: dict) -> list[str]:
        """``rnnkit info``: the lines it prints about a saved run."""

    def evaluate_data(self, run, data: str) -> tuple[dict, str]:
        """``rnnkit eval``: metrics of a trained run on the user's data, the dict for --json and a line for people."""


# the verbs a task may have besides, each with what it needs beside it:
#   predict_texts(run, texts, **options) -> list[dict]  ``rnnkit predict``: one record per text; PREDICT_OPTIONS
#       names the flags it takes and show_prediction(run, record) -> str the line people see for a record
#   sample(run, path, n, **options) -> (records, notes)   ``rnnkit sample``; SAMPLE_OPTIONS names the flags it
#       takes and show_sample(run, record) -> str the line people see for a record
#   score_texts(run, path, texts, label=None) -> list[dict]   ``rnnkit score``: log P, perplexity, bits per text
#   generator(run, label, path) -> model   what ``text_samples`` and ``text_scores`` draw from;
#       training_texts(run) -> set or None tells novel samples from remembered ones
VERBS = {"predict_texts": ("PREDICT_OPTIONS", "show_prediction"), "sample": ("SAMPLE_OPTIONS", "show_sample"),
         "score_texts": ("generator",), "generator": ("training_texts",)}


def missing(module) -> list[str]:
    """The names ``module`` lacks to be a task (``TaskModule``, and what each verb it has needs beside it)."""
    required = [name for name in TaskModule.__annotations__] + ["build_model", "info", "evaluate_data"]
    required += [need for verb, needs in VERBS.items() if hasattr(module, verb) for need in needs]
    return [name for name in required if not hasattr(module, name)]


# what ``text_samples`` takes of ``rnnkit sample``'s flags (and, for a conditional generator, "label", "judge")
TEXT_SAMPLE_OPTIONS = ("temperature", "top_k", "top_p", "beam", "prefix", "max_len", "seed")


def dropout_option(default: float):
    return option(default, "dropout between stacked layers and before the output", check=_checks.probability)


def sample_every_option(default: int):
    return option(default, "print samples every N steps", kind=int, check=_checks.positive_int)


def bidirectional_option(default: bool, what: str = "read each sequence both ways"):
    return option(default, what)


def model_line(config, details: str = "") -> str:
    """The recurrent stack: cell, layers and width, then the task's own ``details``."""
    return f"model: {config.cell}, {config.layers} layer(s) of {config.hidden}{details}"


def run_lines(meta: dict, loss_unit: str | None, digits: int = 4) -> list[str]:
    """The last lines of every run's info: steps taken and the best validation loss (in nats per
    ``loss_unit``, or a bare number when None)."""
    best = meta["best_valid_loss"]
    steps = f"steps: {meta['step']}" + (f" of {meta['total_steps']}" if meta["total_steps"] else "")
    loss = "none yet" if best is None else f"{best:.{digits}f}" + (f" nats/{loss_unit}" if loss_unit else "")
    return [steps, f"best validation loss: {loss}"]


def parameters_line(meta: dict) -> str:
    return f"parameters: {meta['num_params']:,}"


def labels_line(meta: dict, vocab, labels: list[str]) -> str:
    """The data of a run that maps texts to labels (or tags)."""
    shown = ", ".join(labels[:20]) + (" ..." if len(labels) > 20 else "")
    return f"data: {meta['corpus']} ({vocab.level} level, vocabulary {len(vocab)}, {len(labels)} labels: {shown})"


def scored(totals, vocab) -> tuple[dict, str]:
    """``evaluate_data`` of a generative model from (log P, tokens) per text: loss, perplexity and bits."""
    log_prob, tokens = sum(t[0] for t in totals), sum(t[1] for t in totals)
    s = generate.summary(log_prob, tokens)
    key = "bits_per_char" if vocab.level == "char" else "bits_per_token"
    unit = key.split("_")[-1]
    return ({"loss": s["loss"], "perplexity": s["perplexity"], key: s["bits"]},
            f"{tokens} {unit}s: loss {s['loss']:.4f} nats/{unit}, perplexity {s['perplexity']:.3f}, "
            f"{s['bits']:.4f} bits/{unit}")


def text_samples(run, path, n: int, label=None, judge=None, temperature=1.0, top_k=None, top_p=None, beam=None,
                 prefix="", max_len=None, seed=None) -> tuple[list[dict], list[str]]:
    """``rnnkit sample`` of a model of text (its task module has ``generator`` and ``training_texts``): ``n``
    samples, or the ``beam`` best continuations, of ``prefix``, from the generator of ``label``. Returns a
    record per sample, {"text"} (and "log_prob" from a beam), and the notes for stderr: how many samples are
    novel (not training lines) and, with ``judge`` (a loaded classifier run), how many it assigns to ``label``."""
    model, meta = run.module.generator(run, label, path), run.meta
    vocab = Vocabulary.from_json(meta["vocab"])
    lines = meta["mode"] == "lines"
    max_len = max_len if max_len is not None else (50 if lines else 300)
    if beam is not None:
        best = generate.beam_search(model, vocab, meta["start"], width=beam, max_len=max_len, prefix=prefix, n=n)
        return [{"text": text, "log_prob": log_prob} for text, log_prob in best], []
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"--top-p must be in (0, 1], got {top_p}")
    if judge is not None and label not in judge.meta["labels"]:
        raise ValueError(f"--judge {judge.path} does not know the label {label!r}")
    samples = generate.sample(model, vocab, meta["start"], n=n, max_len=max_len, temperature=temperature,
                              top_k=top_k, top_p=top_p, prefix=prefix, rng=np.random.default_rng(seed),
                              stop_at_eos=lines)
    notes = []
    train = run.module.training_texts(run) if lines else None
    if train is not None:
        notes.append(f"{sum(s not in train for s in samples)}/{len(samples)} novel (not in the training data)")
    if judge is not None:
        named = [s for s in samples if s]
        records = judge.module.predict_texts(judge, named) if named else []
        agree = sum(r["labels"][0]["label"] == label for r in records)
        notes.append(f"{agree}/{len(samples)} judged {label} by {judge.path}")
    return [{"text": s} for s in samples], notes


def show_text_sample(run, record: dict) -> str:
    """The line people see for a record of ``text_samples``."""
    return f"{record['log_prob']:9.3f}  {record['text']}" if "log_prob" in record else record["text"]


def text_scores(run, path, texts: list[str], label=None) -> list[dict]:
    """``rnnkit score`` of a model of text (as ``text_samples``): each text's log-probability under the generator
    of ``label``, {"text", "log_prob", "tokens", "perplexity", "bits", "unit"} (unit "char" or "token")."""
    model, meta = run.module.generator(run, label, path), run.meta
    vocab = Vocabulary.from_json(meta["vocab"])
    unit = "char" if vocab.level == "char" else "token"
    records = []
    for text in texts:
        log_prob, n = generate.score(model, vocab, meta["start"], text, eos_at_end=meta["mode"] == "lines")
        s = generate.summary(log_prob, n)
        records.append({"text": text, "log_prob": log_prob, "tokens": n, "perplexity": s["perplexity"],
                        "bits": s["bits"], "unit": unit})
    return records
