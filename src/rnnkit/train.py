"""The one training loop, for every task: steps, epochs or minutes, schedule, clipping, validation,
checkpoints, metrics, plots, progress, signals and resuming.

A task (``rnnkit.tasks``) owns its data, batches, model, loss, metrics and what it shows; the ``Trainer``
owns everything else. A run directory holds ``last.safetensors`` and ``best.safetensors`` (weights,
optimizer state, carried state; JSON metadata with the config, the task's vocabulary and labels, step,
data position and RNG state), ``metrics.jsonl`` (one line per step, and one per validation) and
``loss.png``. SIGINT or SIGTERM stops after the current step and saves ``last``; ``resume`` continues
from it bit for bit. A NaN or Inf loss or gradient stops training with ``Diverged`` and leaves the last
good checkpoint as it was. The best checkpoint is the one with the lowest validation loss.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import signal
import sys
import time
from dataclasses import asdict, dataclass

from tqdm import tqdm

from . import _checks, tasks
from .checkpoint import CheckpointError, load_checkpoint, load_params, save_checkpoint
from .files import read_jsonl, write_atomic
from .interop import distributed
from .layers import CELLS
from .optim import SGD, Adagrad, Adam, RMSProp, clip_by_global_norm, clip_by_value, global_norm
from .plots import plot_losses

OPTIMIZERS = {"adam": Adam, "sgd": lambda p, lr: SGD(p, lr, momentum=0.9), "rmsprop": RMSProp, "adagrad": Adagrad}
SHARED_DEFAULTS = {"seq_len": 64, "batch_size": 64}  # for the tasks whose DEFAULTS do not name their own
TASK_NAMES = tuple(tasks.MODULES)
TASK_DEFAULTS = {name: module.DEFAULTS for name, module in tasks.MODULES.items()}  # each task's, from its module
# options that only some tasks take (each task module's OPTIONS says which): given to another task, an error
TASK_ONLY = ("mode", "sample_every", "pool", "attention", "bidirectional", "dropout", "encoding", "init")
TASK_OPTIONS = {name: tuple(task for task, module in tasks.MODULES.items() if name in module.OPTIONS)
                for name in TASK_ONLY}


class Diverged(RuntimeError):
    """The loss or the gradient norm became NaN or Inf."""


@dataclass
class TrainConfig:
    task: str = "lm"
    data: str | None = None  # None (here and below): the task's default (its module's DEFAULTS)
    level: str = "char"
    mode: str | None = None  # "lines" or "stream"; None: the corpus's own
    cell: str | None = None
    hidden: int = 256
    layers: int = 1
    embed: int | None = None
    dropout: float | None = None
    seq_len: int | None = None
    batch_size: int | None = None
    steps: int | None = None  # None with epochs and minutes None: the task's default
    epochs: int | None = None
    minutes: float | None = None
    lr: float = 3e-3
    schedule: str = "cosine"
    optimizer: str = "adam"
    clip: float = 5.0
    clip_mode: str = "norm"  # "norm": rescale when the global norm exceeds clip; "value": clip each entry; "none"
    seed: int = 0
    eval_every: int = 500
    sample_every: int | None = None
    min_freq: int = 1
    max_vocab: int | None = None
    bidirectional: bool | None = None
    pool: str | None = None
    attention: bool | None = None
    encoding: str | None = None  # music: "events" (melody tokens) or "pianoroll"
    init: str | None = None  # memory: "chrono" gate biases (init.chrono) or "standard" (forget bias 1, others 0)

    def __post_init__(self):
        for name, default in TASK_DEFAULTS.get(self.task, {}).items():
            bounded = name == "steps" and (self.epochs is not None or self.minutes is not None)
            if getattr(self, name) is None and not bounded:
                setattr(self, name, default)
        for name, default in SHARED_DEFAULTS.items():
            if getattr(self, name) is None:
                setattr(self, name, default)

    def check(self) -> None:
        _checks.one_of("--task", self.task, TASK_NAMES)
        for name, owners in TASK_OPTIONS.items():
            if getattr(self, name) is not None and self.task not in owners:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} does not apply to --task {self.task} (it is for --task {' or '.join(owners)})")
        _checks.one_of("--level", self.level, ("char", "word"))
        if self.mode is not None:
            _checks.one_of("--mode", self.mode, ("lines", "stream"))
        if self.pool is not None:
            _checks.one_of("--pool", self.pool, ("last", "mean", "max"))
        if self.encoding is not None:
            _checks.one_of("--encoding", self.encoding, ("events", "pianoroll"))
        if self.init is not None:
            _checks.one_of("--init", self.init, ("chrono", "standard"))
        _checks.one_of("--cell", self.cell, tuple(CELLS))
        _checks.one_of("--schedule", self.schedule, ("cosine", "constant"))
        _checks.one_of("--clip-mode", self.clip_mode, ("norm", "value", "none"))
        _checks.one_of("--optimizer", self.optimizer, tuple(OPTIMIZERS))
        for name in ("hidden", "layers", "embed", "seq_len", "batch_size", "eval_every", "min_freq"):
            _checks.positive_int("--" + name.replace("_", "-"), getattr(self, name))
        for name in ("steps", "epochs", "max_vocab", "sample_every"):
            if getattr(self, name) is not None:
                _checks.positive_int("--" + name.replace("_", "-"), getattr(self, name))
        if self.minutes is not None:
            _checks.positive_float("--minutes", self.minutes)
        if self.dropout is not None:
            _checks.probability("--dropout", self.dropout)
        _checks.positive_float("--lr", self.lr)
        _checks.positive_float("--clip", self.clip)


def lr_at(config: TrainConfig, step: int, total: int | None) -> float:
    """Cosine decay from lr to lr/10 over the run (constant when asked, or when only a time budget bounds it)."""
    if config.schedule == "constant" or total is None:
        return config.lr
    return config.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * min(step, total) / total)))


class Trainer:
    def __init__(self, config: TrainConfig, out, *, checkpoint=None, world=None):
        """A new run of ``config`` writing to ``out``; or, given ``checkpoint`` (arrays, meta), its continuation.

        ``world`` is ``interop.distributed.world()`` unless given: one process, or the ranks of ``mpiexec``,
        each training on its rows of every batch (rank 0 alone validates, logs and writes).
        """
        config.check()
        self.world = distributed.world() if world is None else world
        if config.batch_size < self.world.size:
            raise ValueError(f"--batch-size {config.batch_size} cannot be split across {self.world.size} MPI ranks")
        self.config, self.out = config, pathlib.Path(out)
        self.log = (lambda text: tqdm.write(text, file=sys.stderr)) if self.world.is_main else (lambda text: None)
        self.stop_signal, self.deadline, self.stopping = None, None, (False, False)
        self.task = tasks.make_task(config, None if checkpoint is None else checkpoint[1])
        self.model = self.task.model
        self.optimizer = OPTIMIZERS[config.optimizer](self.model.params, config.lr)
        self.total = config.steps if config.epochs is None else config.epochs * self.task.batches.batches_per_epoch
        self.step, self.position, self.carry, self.best = 0, (0, 0), None, math.inf
        if checkpoint is not None:
            self._restore(*checkpoint)
        self.carry = self.world.take_state(self.carry)  # this rank's rows of a carried state
        if self.world.size > 1:  # each rank's dropout draws from its own stream (rank 0's is the one saved)
            generator = self.model.rng.bit_generator
            generator.state = generator.jumped(self.world.rank).state

    @classmethod
    def resume(cls, out, world=None, **overrides) -> "Trainer":
        """Continue the run in ``out`` from its last checkpoint; only its length (steps, epochs, minutes) may change."""
        arrays, meta = load_checkpoint(pathlib.Path(out) / "last.safetensors")
        return cls(TrainConfig(**{**meta["config"], **overrides}), out, checkpoint=(arrays, meta), world=world)

    # ------------------------------------------------------------------------------------------ the loop

    def run(self) -> str:
        """Train to the end (or until a signal); returns "finished" or "interrupted"."""
        main = self.world.is_main
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            self._tidy()
        if self.step == 0:
            self.save("last")
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        self.deadline = None if self.config.minutes is None else time.monotonic() + 60 * self.config.minutes
        bar = tqdm(total=self.total, initial=self.step, unit="step", disable=not (main and sys.stderr.isatty()),
                   file=sys.stderr)
        try:
            with open(self.out / "metrics.jsonl" if main else os.devnull, "a", encoding="utf-8") as metrics:
                while (self.total is None or self.step < self.total) and not any(self._stop()):
                    record = self._train_step()
                    metrics.write(json.dumps(record) + "\n")
                    if self.step % self.config.eval_every == 0:
                        self._validate(metrics)
                    bar.update(1)
                    bar.set_postfix(loss=f"{record['loss']:.3f}", valid=f"{self.best:.3f}",
                                    tok_s=f"{record['tokens_per_s']:,.0f}")
                    if main and self.config.sample_every and self.step % self.config.sample_every == 0:
                        for line in self.task.show(seed=self.step):
                            self.log(f"  {line}")
        finally:
            bar.close()
            for s, handler in handlers.items():
                signal.signal(s, handler)
        if self.step % self.config.eval_every:
            with open(self.out / "metrics.jsonl" if main else os.devnull, "a", encoding="utf-8") as metrics:
                self._validate(metrics)
        if main:
            plot_losses(self.out)
        return "interrupted" if self._stop()[0] else "finished"

    def _wish(self) -> tuple[bool, bool]:
        """(a signal came, the time budget is spent), here."""
        return self.stop_signal is not None, self.deadline is not None and time.monotonic() >= self.deadline

    def _stop(self) -> tuple[bool, bool]:
        """``_wish()``; on several ranks, any rank's as agreed in the last step's Allreduce (so that all stop
        after the same step)."""
        return self.stopping if self.world.size > 1 else self._wish()

    def _train_step(self) -> dict:
        started = time.perf_counter()
        batches, (epoch, index) = self.task.batches, self.position
        batch = self.world.take(batches.batch(epoch, index))
        self.model.zero_grad()
        loss, state, tokens = self.task.train_step(batch, self.carry)
        weight = tokens if self.task.averages_over == "tokens" else distributed.rows(batch)
        # on several ranks: the gradient of the global batch's mean loss, the same on every rank
        loss, tokens, self.stopping = self.world.combine(self.model.grads, loss, weight, tokens, self._wish())
        if not math.isfinite(loss):
            raise Diverged(f"the loss became {loss} at step {self.step + 1}")
        grads = self.model.grads
        norm = global_norm(grads) if self.config.clip_mode != "norm" else clip_by_global_norm(grads, self.config.clip)
        if self.config.clip_mode == "value" and math.isfinite(norm):
            clip_by_value(grads, self.config.clip)
        if not math.isfinite(norm):
            raise Diverged(f"the gradient norm became {norm} at step {self.step + 1}")
        self.optimizer.lr = lr_at(self.config, self.step, self.total)
        self.optimizer.step(self.model.grads)
        self.step += 1
        index += 1
        if index == batches.batches_per_epoch:
            epoch, index, state = epoch + 1, 0, None
        self.position, self.carry = (epoch, index), state if batches.carries_state else None
        seconds = time.perf_counter() - started
        return {"step": self.step, "loss": loss, "lr": self.optimizer.lr, "grad_norm": norm,
                "tokens_per_s": tokens / seconds, "seconds": seconds}

    def _validate(self, log) -> None:
        """Validate, append the record to ``log`` (the open metrics.jsonl) and save the checkpoints.

        The log reaches the disk before the checkpoints do: a crash between the two leaves lines past the
        checkpoint's step, which resuming drops, never a checkpoint ahead of its log.
        """
        carry = self.world.gather_state(self.carry)  # every rank takes part; rank 0 validates and saves
        if not self.world.is_main:
            return
        metrics = self.task.validate()
        improved = metrics["loss"] < self.best
        self.best = min(self.best, metrics["loss"])
        log.write(json.dumps({"step": self.step, **{f"valid_{k}": v for k, v in metrics.items()}}) + "\n")
        log.flush()
        os.fsync(log.fileno())
        if improved:
            self.save("best", carry)
        self.save("last", carry)
        self.log(f"step {self.step}{'' if self.total is None else f'/{self.total}'}: validation "
                 f"{self.task.describe_validation(metrics)}, best {self.best:.4f}")

    def _on_signal(self, signum, frame) -> None:
        self.stop_signal = signum

    # -------------------------------------------------------------------------------------- checkpoints

    def save(self, which: str, carry=None) -> None:
        """Write ``which``.safetensors; ``carry`` is the whole batch's carried state when the caller gathered it
        from several ranks. On several ranks every rank calls this and rank 0 writes."""
        if carry is None:
            carry = self.world.gather_state(self.carry)
        if not self.world.is_main:
            return
        arrays = {f"param/{k}": v for k, v in self.model.params.items()}
        arrays.update({f"optim/{k}": v for k, v in self.optimizer.state.items()})
        if carry is not None:
            carry = carry if isinstance(carry, tuple) else (carry,)
            arrays.update({f"carry/{i}": v for i, v in enumerate(carry)})
        meta = {
            "config": asdict(self.config), **self.task.metadata(), "step": self.step,
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

    def _tidy(self) -> None:
        """Make the run directory agree with the checkpoint: drop metric lines past its step (a run killed
        after its last save wrote them) and a line torn by a crash mid-write, saying so; remove the temporary
        files of writes a crash cut short (``files.replacing``)."""
        for stale in self.out.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        path = self.out / "metrics.jsonl"
        records, torn = read_jsonl(path)
        if torn:
            self.log(f"{path}: dropped {torn} unreadable line{'s' if torn > 1 else ''} (a crash mid-write)")
        if path.exists():
            kept = [r for r in records if isinstance(r.get("step"), int) and r["step"] <= self.step]
            write_atomic(path, "".join(json.dumps(r) + "\n" for r in kept))


@dataclass
class Run:
    """A trained run loaded for use: its config, task name, model and checkpoint metadata."""

    config: TrainConfig
    model: object
    meta: dict

    @property
    def task(self) -> str:
        return self.config.task


def load_run(run_dir, which: str = "best") -> Run:
    """The model of a run directory's ``best`` (or ``last``) checkpoint, with its config and metadata."""
    run_dir = pathlib.Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"no run directory at {str(run_dir)!r}")
    path = run_dir / f"{which}.safetensors"
    if not path.exists() and which == "best":
        path = run_dir / "last.safetensors"
    arrays, meta = load_checkpoint(path)
    try:
        config = TrainConfig(**meta["config"])
        model = tasks.build_model(config, meta)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{str(path)!r} has unusable metadata: {error}") from None
    load_params(model, arrays)
    return Run(config, model, meta)
