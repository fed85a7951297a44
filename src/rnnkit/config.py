"""A run's configuration: the options every task shares (``TrainConfig``) and the task's own (``options``).

Each task module declares its own options as a dataclass ``Options`` (``tasks.base.option`` gives each field its
help text and choices) and what the shared options left as None mean for it (``DEFAULTS``). A run's saved config
is ``asdict(config)``: the shared options and that task's options under "options", nothing else. Runs saved
before options had a task of their own hold every task's options side by side; ``TrainConfig.from_saved`` reads
both forms.
"""

from __future__ import annotations

import importlib.util
import pathlib
import tomllib
from dataclasses import asdict, dataclass, fields
from typing import Any

import tomli_w

from . import _checks, tasks
from .layers import CELLS
from .optim import OPTIMIZERS
from .options import check, flag, option

SHARED_DEFAULTS = {"seq_len": 64, "batch_size": 64}  # for the tasks whose DEFAULTS do not name their own


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (an optional extra's library)."""
    return importlib.util.find_spec(module) is not None


def task_options(task: str) -> tuple:
    """The fields of ``task``'s own options (its module's ``Options``)."""
    return fields(tasks.MODULES[task].Options)


def option_owners() -> dict[str, list[str]]:
    """Every task option's name -> the tasks that take it."""
    owners: dict[str, list[str]] = {}
    for task in tasks.MODULES:
        for field in task_options(task):
            owners.setdefault(field.name, []).append(task)
    return owners


@dataclass
class TrainConfig:
    """What every task shares. A field left as None takes the task's default (its module's ``DEFAULTS``), then
    ``SHARED_DEFAULTS``; ``options`` holds the task's own."""

    task: str = option("lm", "what to train (the tasks above)")
    data: str | None = option(None, "the built-in corpus or your file", kind=str)
    level: str = option("char", "tokens: characters or words", ("char", "word"))
    cell: str | None = option(None, "the recurrent cell (rnn is tanh, rnn-relu ReLU)", tuple(CELLS), kind=str)
    hidden: int = option(256, "units of each recurrent layer (and direction)", check=_checks.positive_int)
    layers: int = option(1, "recurrent layers, stacked", check=_checks.positive_int)
    embed: int | None = option(None, "size of the token embedding", kind=int, check=_checks.positive_int)
    seq_len: int | None = option(None, "time steps of a training sequence (longer ones are cut)", kind=int,
                                 check=_checks.positive_int)
    batch_size: int | None = option(None, "sequences per step", kind=int, check=_checks.positive_int)
    steps: int | None = option(None, "training steps, unless --epochs or --minutes bound the run", kind=int,
                               check=_checks.positive_int)
    epochs: int | None = option(None, "train for this many passes over the training data", kind=int,
                                check=_checks.positive_int)
    minutes: float | None = option(None, "train for this long (checked after each step)", kind=float,
                                   check=_checks.positive_float)
    lr: float = option(3e-3, "learning rate (at the start of the cosine schedule)", check=_checks.positive_float)
    schedule: str = option("cosine", "cosine (decays to lr/10 over the run) or constant", ("cosine", "constant"))
    optimizer: str = option("adam", "the optimiser (sgd has momentum 0.9)", tuple(OPTIMIZERS))
    clip: float = option(5.0, "the gradient clipping threshold", check=_checks.positive_float)
    clip_mode: str = option("norm", "clip the global gradient norm to --clip, each entry to ±--clip, or nothing",
                            ("norm", "value", "none"))
    seed: int = option(0, "seed of the initialisation, the batches' order and dropout")
    eval_every: int = option(500, "validate, and save the checkpoints, every N steps", check=_checks.positive_int)
    patience: int | None = option(None, "stop early when N validations in a row bring no lower validation loss",
                                  kind=int, check=_checks.positive_int)
    tensorboard: bool | None = option(None, "write TensorBoard event files in RUN/tensorboard (default: when "
                                      "tensorboardX is installed, the tensorboard extra)", kind=bool)
    min_freq: int = option(1, "tokens seen fewer times in training become <UNK>", check=_checks.positive_int)
    max_vocab: int | None = option(None, "keep at most the N most frequent tokens", kind=int,
                                   check=_checks.positive_int)
    options: Any = None  # the task's own: its module's Options; a dict of some of them, or None, fills the rest

    def __post_init__(self):
        _checks.one_of("--task", self.task, tuple(tasks.MODULES))
        module = tasks.MODULES[self.task]
        if not isinstance(self.options, module.Options):
            given = dict(self.options or {})
            owners = option_owners()
            for name in given:
                if name not in {f.name for f in task_options(self.task)}:
                    if name not in owners:
                        raise ValueError(f"{flag(name)} is not an option of any task")
                    raise ValueError(f"{flag(name)} does not apply to --task {self.task} "
                                     f"(it is for --task {' or '.join(owners[name])})")
            self.options = module.Options(**given)
        for name, default in module.DEFAULTS.items():
            bounded = name == "steps" and (self.epochs is not None or self.minutes is not None)
            if getattr(self, name) is None and not bounded:
                setattr(self, name, default)
        for name, default in SHARED_DEFAULTS.items():
            if getattr(self, name) is None:
                setattr(self, name, default)

    @classmethod
    def from_saved(cls, saved: dict) -> TrainConfig:
        """The config of a saved run (``meta["config"]``), in either form: the task's options under "options",
        or (runs saved before) every task's options among the shared ones, those of other tasks None."""
        saved = dict(saved)
        if "options" not in saved:
            own = {f.name for f in task_options(saved.get("task", "lm"))}
            flat = {name: saved.pop(name) for name in option_owners() if name in saved}
            saved["options"] = {name: value for name, value in flat.items() if name in own and value is not None}
        return cls(**saved)

    def check(self) -> None:
        """Raise ValueError, naming the flag, for any option out of its range."""
        check(self)
        check(self.options)
        if self.tensorboard and not installed("tensorboardX"):
            raise ValueError('--tensorboard needs tensorboardX: pip install "rnnkit[tensorboard]"')


def read_toml(path) -> dict:
    """The options of a run config file (``rnnkit train --config``) as ``TrainConfig``'s keyword arguments: the
    shared options at the top, the task's own under ``[options]``, as ``to_toml`` writes them. Raises ValueError,
    naming the file, for a file that is not TOML or a key that is no option."""
    try:
        values = tomllib.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"--config {str(path)!r} could not be read: {error}") from None
    shared = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - shared)
    if unknown:
        hint = " (a task's own options go under [options])" if set(unknown) & set(option_owners()) else ""
        raise ValueError(f"--config {str(path)!r}: no such option: {', '.join(unknown)}{hint}")
    if not isinstance(values.get("options", {}), dict):
        raise ValueError(f"--config {str(path)!r}: options must be a table, [options]")
    return values


def to_toml(config: TrainConfig) -> str:
    """``config`` as a run config file that ``rnnkit train --config`` reads back to the same config (options left
    as None, which stand for defaults, are left out)."""
    values = asdict(config)
    values["options"] = {k: v for k, v in values["options"].items() if v is not None}
    return tomli_w.dumps({k: v for k, v in values.items() if v is not None})
