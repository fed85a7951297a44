"""Training a language model: data, the loop, validation, checkpoints, progress, resuming.

A run directory holds ``last.safetensors`` and ``best.safetensors`` (weights, optimizer state, carried
state; JSON metadata with the config, vocabulary, step, data position and RNG state), ``metrics.jsonl``
(one line per step, and one per validation) and ``loss.png``. SIGINT or SIGTERM stops after the current
step and saves ``last``; ``resume`` continues from it bit for bit. A NaN or Inf loss or gradient stops
training with ``Diverged`` and leaves the last good checkpoint as it was.
"""

from __future__ import annotations

import json
import math
import pathlib
import signal
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
from tqdm import tqdm

from . import _checks, generate
from .baselines import best_ngram_cross_entropy
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .data import LineBatches, StreamBatches, Vocabulary, load_corpus
from .losses import softmax_cross_entropy
from .models import LanguageModel
from .optim import SGD, Adagrad, Adam, RMSProp, clip_by_global_norm

OPTIMIZERS = {"adam": Adam, "sgd": lambda p, lr: SGD(p, lr, momentum=0.9), "rmsprop": RMSProp, "adagrad": Adagrad}
VALID_TOKENS = 100_000  # periodic validation of a stream reads at most this many tokens


class Diverged(RuntimeError):
    """The loss or the gradient norm became NaN or Inf."""


@dataclass
class TrainConfig:
    data: str = "names"
    level: str = "char"
    mode: str | None = None  # "lines" or "stream"; None: the corpus's own
    cell: str = "lstm"
    hidden: int = 256
    layers: int = 1
    embed: int = 32
    dropout: float = 0.0
    seq_len: int = 64
    batch_size: int = 64
    steps: int | None = 2000
    epochs: int | None = None
    minutes: float | None = None
    lr: float = 3e-3
    schedule: str = "cosine"
    optimizer: str = "adam"
    clip: float = 5.0
    seed: int = 0
    eval_every: int = 500
    sample_every: int = 1000
    min_freq: int = 1
    max_vocab: int | None = None

    def check(self) -> None:
        _checks.one_of("--level", self.level, ("char", "word"))
        if self.mode is not None:
            _checks.one_of("--mode", self.mode, ("lines", "stream"))
        _checks.one_of("--cell", self.cell, ("lstm", "gru", "rnn"))
        _checks.one_of("--schedule", self.schedule, ("cosine", "constant"))
        _checks.one_of("--optimizer", self.optimizer, tuple(OPTIMIZERS))
        for name in ("hidden", "layers", "embed", "seq_len", "batch_size", "eval_every", "sample_every", "min_freq"):
            _checks.positive_int("--" + name.replace("_", "-"), getattr(self, name))
        for name in ("steps", "epochs", "max_vocab"):
            if getattr(self, name) is not None:
                _checks.positive_int("--" + name.replace("_", "-"), getattr(self, name))
        if self.minutes is not None:
            _checks.positive_float("--minutes", self.minutes)
        _checks.probability("--dropout", self.dropout)
        _checks.positive_float("--lr", self.lr)
        _checks.positive_float("--clip", self.clip)


class Data:
    """A corpus made ready for one config: vocabulary, training and validation batches, start token."""

    def __init__(self, config: TrainConfig, vocab: Vocabulary | None = None):
        corpus = load_corpus(config.data)
        self.mode = config.mode or corpus.mode
        self.corpus_name = corpus.name
        train, valid = corpus.split(self.mode)
        if vocab is None:
            if config.level == "char":  # every character the corpus uses (a line corpus's newlines excluded)
                source = corpus.lines if self.mode == "lines" else [corpus.text]
            else:  # words of the training split only, so that validation meets <UNK> as new text would
                source = train if self.mode == "lines" else [train]
            vocab = Vocabulary.build(source, config.level, config.min_freq, config.max_vocab)
        self.vocab = vocab
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

    def validation_loss(self, model: LanguageModel) -> float:
        total, count, state = 0.0, 0, None
        for x, y, mask in self.valid.in_order():
            logits, new_state = model.forward(x, state, mask, training=False)
            loss, _ = softmax_cross_entropy(logits, y, mask)
            n = int(mask.sum()) if mask is not None else y.size
            total, count = total + loss * n, count + n
            state = new_state if self.valid.carries_state else None
        return total / count


def lr_at(config: TrainConfig, step: int, total: int | None) -> float:
    """Cosine decay from lr to lr/10 over the run (constant when asked, or when only a time budget bounds it)."""
    if config.schedule == "constant" or total is None:
        return config.lr
    return config.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(step, total) / total)))


class Trainer:
    def __init__(self, config: TrainConfig, out, *, checkpoint=None):
        """A new run of ``config`` writing to ``out``; or, given ``checkpoint`` (arrays, meta), its continuation."""
        config.check()
        self.config, self.out = config, pathlib.Path(out)
        self.log = lambda text: tqdm.write(text, file=sys.stderr)  # above the progress bar
        self.stop_signal = None
        self.data = Data(config, None if checkpoint is None else Vocabulary.from_json(checkpoint[1]["vocab"]))
        self.model = build_model(config, len(self.data.vocab))
        self.optimizer = OPTIMIZERS[config.optimizer](self.model.params, config.lr)
        self.total = config.steps if config.epochs is None else config.epochs * self.data.batches.batches_per_epoch
        self.step, self.position, self.carry, self.best = 0, (0, 0), None, math.inf
        if checkpoint is not None:
            self._restore(*checkpoint)

    @classmethod
    def resume(cls, out, **overrides) -> "Trainer":
        """Continue the run in ``out`` from its last checkpoint; only its length (steps, epochs, minutes) may change."""
        arrays, meta = load_checkpoint(pathlib.Path(out) / "last.safetensors")
        return cls(TrainConfig(**{**meta["config"], **overrides}), out, checkpoint=(arrays, meta))

    # ------------------------------------------------------------------------------------------ the loop

    def run(self) -> str:
        """Train to the end (or until a signal); returns "finished" or "interrupted"."""
        self.out.mkdir(parents=True, exist_ok=True)
        self._trim_metrics()
        if self.step == 0:
            self.save("last")
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        deadline = None if self.config.minutes is None else time.monotonic() + 60 * self.config.minutes
        bar = tqdm(total=self.total, initial=self.step, unit="step", disable=not sys.stderr.isatty(), file=sys.stderr)
        try:
            with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as metrics:
                while (self.total is None or self.step < self.total) and self.stop_signal is None:
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    record = self._train_step()
                    metrics.write(json.dumps(record) + "\n")
                    if self.step % self.config.eval_every == 0:
                        metrics.write(json.dumps(self._validate()) + "\n")
                        metrics.flush()
                    bar.update(1)
                    bar.set_postfix(loss=f"{record['loss']:.3f}", valid=f"{self.best:.3f}",
                                    tok_s=f"{record['tokens_per_s']:,.0f}")
                    if self.step % self.config.sample_every == 0:
                        for text in self.samples(3, seed=self.step):
                            self.log(f"  sample: {text!r}")
        finally:
            bar.close()
            for s, handler in handlers.items():
                signal.signal(s, handler)
        if self.step % self.config.eval_every:
            with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as metrics:
                metrics.write(json.dumps(self._validate()) + "\n")
        self.save("last")
        plot_losses(self.out)
        return "interrupted" if self.stop_signal is not None else "finished"

    def _train_step(self) -> dict:
        started = time.perf_counter()
        batches, (epoch, index) = self.data.batches, self.position
        x, y, mask = batches.batch(epoch, index)
        model = self.model
        model.zero_grad()
        logits, state = model.forward(x, self.carry if batches.carries_state else None, mask)
        loss, dlogits = softmax_cross_entropy(logits, y, mask)
        if not math.isfinite(loss):
            raise Diverged(f"the loss became {loss} at step {self.step + 1}")
        model.backward(dlogits)
        norm = clip_by_global_norm(model.grads, self.config.clip)
        if not math.isfinite(norm):
            raise Diverged(f"the gradient norm became {norm} at step {self.step + 1}")
        self.optimizer.lr = lr_at(self.config, self.step, self.total)
        self.optimizer.step(model.grads)
        self.step += 1
        index += 1
        if index == batches.batches_per_epoch:
            epoch, index, state = epoch + 1, 0, None
        self.position, self.carry = (epoch, index), state
        tokens = int(mask.sum()) if mask is not None else y.size
        return {"step": self.step, "loss": loss, "lr": self.optimizer.lr, "grad_norm": norm,
                "tokens_per_s": tokens / (time.perf_counter() - started)}

    def _validate(self) -> dict:
        valid = self.data.validation_loss(self.model)
        if valid < self.best:
            self.best = valid
            self.save("best")
        self.save("last")
        unit = "char" if self.config.level == "char" else "token"
        self.log(f"step {self.step}{'' if self.total is None else f'/{self.total}'}: validation "
                 f"{valid:.4f} nats/{unit} ({valid / math.log(2):.3f} bits/{unit}), best {self.best:.4f}")
        return {"step": self.step, "valid_loss": valid}

    def _on_signal(self, signum, frame) -> None:
        self.stop_signal = signum

    def samples(self, n: int, seed: int, **options) -> list[str]:
        stream = self.data.mode == "stream"
        return generate.sample(self.model, self.data.vocab, self.data.start, n=n, rng=np.random.default_rng(seed),
                               max_len=200 if stream else 50, stop_at_eos=not stream, **options)

    # -------------------------------------------------------------------------------------- checkpoints

    def save(self, which: str) -> None:
        arrays = {f"param/{k}": v for k, v in self.model.params.items()}
        arrays.update({f"optim/{k}": v for k, v in self.optimizer.state.items()})
        if self.carry is not None:
            carry = self.carry if isinstance(self.carry, tuple) else (self.carry,)
            arrays.update({f"carry/{i}": v for i, v in enumerate(carry)})
        meta = {
            "config": asdict(self.config), "vocab": self.data.vocab.to_json(), "mode": self.data.mode,
            "start": int(self.data.start), "corpus": self.data.corpus_name, "step": self.step,
            "total_steps": self.total, "position": list(self.position), "optimizer_steps": self.optimizer.steps,
            "rng": self.model.rng.bit_generator.state, "best_valid_loss": None if math.isinf(self.best) else self.best,
            "num_params": self.model.num_params,
        }
        save_checkpoint(self.out / f"{which}.safetensors", arrays, meta)

    def _restore(self, arrays, meta) -> None:
        load_params(self.model, arrays)
        for key, value in self.optimizer.state.items():
            value[...] = arrays[f"optim/{key}"]
        carry = [arrays[f"carry/{i}"] for i in range(2) if f"carry/{i}" in arrays]
        self.carry = None if not carry else tuple(carry) if len(carry) > 1 else carry[0]
        self.step, self.position = meta["step"], tuple(meta["position"])
        self.optimizer.steps = meta["optimizer_steps"]
        self.model.rng.bit_generator.state = meta["rng"]
        self.best = math.inf if meta["best_valid_loss"] is None else meta["best_valid_loss"]

    def _trim_metrics(self) -> None:
        """Drop metric lines past the checkpoint's step (a run killed without saving wrote them)."""
        path = self.out / "metrics.jsonl"
        if path.exists():
            lines = [line for line in path.read_text(encoding="utf-8").splitlines()
                     if line.strip() and json.loads(line)["step"] <= self.step]
            path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    def baseline(self) -> tuple[float, float] | None:
        """Trigram add-k cross-entropy (and k) on the same split, for line corpora; None for streams."""
        if self.data.mode != "lines":
            return None
        return best_ngram_cross_entropy(self.data.train_ids, self.data.valid_ids, self.data.vocab.eos,
                                        len(self.data.vocab) - 1)


def build_model(config: TrainConfig, vocab_size: int) -> LanguageModel:
    return LanguageModel(vocab_size, config.cell, config.hidden, config.layers, config.embed, config.dropout,
                         seed=config.seed)


def load_params(model: LanguageModel, arrays: dict) -> None:
    for name, value in model.params.items():
        saved = arrays.get(f"param/{name}")
        if saved is None or saved.shape != value.shape:
            got = None if saved is None else saved.shape
            raise CheckpointError(f"checkpoint parameter {name} must have shape {value.shape}, got {got}")
        value[...] = saved


def load_run(run_dir, which: str = "best"):
    """(model, vocabulary, metadata) of a run directory's ``best`` (or ``last``) checkpoint."""
    run_dir = pathlib.Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"no run directory at {str(run_dir)!r}")
    path = run_dir / f"{which}.safetensors"
    if not path.exists() and which == "best":
        path = run_dir / "last.safetensors"
    arrays, meta = load_checkpoint(path)
    try:
        config = TrainConfig(**meta["config"])
        vocab = Vocabulary.from_json(meta["vocab"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{str(path)!r} has unusable metadata: {error}") from None
    model = build_model(config, len(vocab))
    load_params(model, arrays)
    return model, vocab, meta


def plot_losses(run_dir: pathlib.Path) -> None:
    """loss.png: training loss per step and validation loss, from metrics.jsonl."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    valid = [(r["step"], r["valid_loss"]) for r in records if "valid_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), lw=0.6, alpha=0.7, label="training")
    if valid:
        ax.plot(*zip(*valid), marker="o", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per token)")
    ax.legend()
    fig.tight_layout()
    tmp = run_dir / ".loss.png.tmp"
    fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    tmp.replace(run_dir / "loss.png")
