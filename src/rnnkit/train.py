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
from dataclasses import asdict

from tqdm import tqdm

from . import tasks
from .board import NoBoard, open_board
from .checkpoint import load_checkpoint, load_params, save_checkpoint
from .config import TrainConfig, to_toml
from .files import read_jsonl, write_atomic
from .interop import distributed
from .optim import OPTIMIZERS, clip_by_global_norm, clip_by_value, global_norm
from .plots import plot_losses


class Diverged(RuntimeError):
    """The loss or the gradient norm became NaN or Inf."""


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
        self.best_step, self.stale = None, 0  # the step of the best validation; validations since it
        self.board = NoBoard()  # TensorBoard's event files, while run() runs
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
        return cls(TrainConfig.from_saved({**meta["config"], **overrides}), out, checkpoint=(arrays, meta), world=world)

    # ------------------------------------------------------------------------------------------ the loop

    def run(self) -> str:
        """Train to the end, a signal or --patience: returns "finished", "interrupted" or "stopped early"."""
        main = self.world.is_main
        if main:
            self.out.mkdir(parents=True, exist_ok=True)
            self._tidy()
            write_atomic(self.out / "config.toml", to_toml(self.config))  # rnnkit train --config reads it back
        self.board = open_board(self.out / "tensorboard", self.config.tensorboard) if main else NoBoard()
        try:
            if self.step == 0:
                self.save("last")
            handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
            self.deadline = None if self.config.minutes is None else time.monotonic() + 60 * self.config.minutes
            every = getattr(self.config.options, "sample_every", None)  # the tasks that show samples take it
            bar = tqdm(total=self.total, initial=self.step, unit="step", disable=not (main and sys.stderr.isatty()),
                       file=sys.stderr)
            try:
                with open(self.out / "metrics.jsonl" if main else os.devnull, "a", encoding="utf-8") as metrics:
                    while (self.total is None or self.step < self.total) and not any(self._stop()):
                        record = self._train_step()
                        metrics.write(json.dumps(record) + "\n")
                        self.board.scalars("train", record, self.step)
                        if self.step % self.config.eval_every == 0:
                            self._validate(metrics)
                        bar.update(1)
                        bar.set_postfix(loss=f"{record['loss']:.3f}", valid=f"{self.best:.3f}",
                                        tok_s=f"{record['tokens_per_s']:,.0f}")
                        if main and every and self.step % every == 0:
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
        finally:
            self.board.close()  # the events written so far reach the disk, whatever ended the run
        signalled, _, patience_spent = self._stop()
        return "interrupted" if signalled else "stopped early" if patience_spent else "finished"

    def _wish(self) -> tuple[bool, bool, bool]:
        """(a signal came, the time budget is spent, --patience validations brought nothing better), here."""
        return (self.stop_signal is not None, self.deadline is not None and time.monotonic() >= self.deadline,
                self._patience_spent())

    def _patience_spent(self) -> bool:
        return self.config.patience is not None and self.stale >= self.config.patience

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
        self.best_step, self.stale = (self.step, 0) if improved else (self.best_step, self.stale + 1)
        log.write(json.dumps({"step": self.step, **{f"valid_{k}": v for k, v in metrics.items()}}) + "\n")
        self.board.scalars("valid", metrics, self.step)
        why = None
        if self._patience_spent():
            why = (f"stopping early: {self.stale} validations without a lower loss (--patience {self.config.patience}); "
                   f"the best, {self.best:.4f} at step {self.best_step}, is kept in best.safetensors")
            log.write(json.dumps({"step": self.step, "stopped": "patience", "why": why}) + "\n")
        log.flush()
        os.fsync(log.fileno())
        if improved:
            self.save("best", carry)
        self.save("last", carry)
        self.log(f"step {self.step}{'' if self.total is None else f'/{self.total}'}: validation "
                 f"{self.task.describe_validation(metrics)}, best {self.best:.4f}")
        if why:
            self.log(why)

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
            "best_step": self.best_step, "stale_validations": self.stale,
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
        self.best_step, self.stale = meta.get("best_step"), meta.get("stale_validations", 0)  # (older runs: none)

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
