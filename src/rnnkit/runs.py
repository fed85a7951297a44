"""A trained run loaded for use: ``load_run(dir)`` rebuilds its task's model from a checkpoint, no data needed."""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

from . import tasks
from .checkpoint import CheckpointError, load_checkpoint, load_params
from .config import TrainConfig


@dataclass
class Run:
    """A trained run: its config, model, checkpoint metadata (vocabularies, labels, step, best loss) and folder."""

    config: TrainConfig
    model: object
    meta: dict
    path: pathlib.Path

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def module(self):
        """The task's module (``tasks.MODULES``): what the run can do (its verbs) and how."""
        return tasks.MODULES[self.task]


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
        config = TrainConfig.from_saved(meta["config"])
        model = tasks.build_model(config, meta)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{str(path)!r} has unusable metadata: {error}") from None
    load_params(model, arrays)
    return Run(config, model, meta, run_dir)
