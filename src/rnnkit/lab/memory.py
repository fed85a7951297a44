"""``rnnkit lab memory``: rnn vs gru vs lstm on a long-memory problem at one parameter budget, the test loss
against the length T beside the loss of an answer that remembers nothing. The gated cells start from chrono
biases (``init.chrono``; ``init="standard"`` for the layers' own), so that with the defaults (2,000 steps of
Adam at 3e-3) the LSTM and the GRU solve the adding problem at every default length and the tanh RNN, which
has no gate to set, does not; with a forget bias of 1 the LSTM at T = 200 stays on the memoryless plateau
that long. Writes ``results.json``
({"task", "baseline", "budget", "steps", "runs": [{"cell", "T", "hidden", "params", "test_loss",
"baseline"}, ...]}; the same from the same seed) and ``memory.png``; each run's directory is
``runs/<cell>-T<T>``."""

from __future__ import annotations

import pathlib
import sys

from tqdm import tqdm

from ..checkpoint import load_best
from ..data.memory import memoryless_loss
from ..files import write_json
from ..plots import plot_memory
from ..tasks.memory import build_model
from ..config import TrainConfig
from . import CELL_NAMES, hidden_for_budget, train_quietly

DEFAULT_BUDGET_HIDDEN = 64  # the budget is an LSTM of this many units


def memory_config(task: str, cell: str, hidden: int, T: int, steps: int, seed: int, lr: float,
                  init: str = "chrono") -> TrainConfig:
    return TrainConfig(task="memory", data=task, cell=cell, hidden=hidden, seq_len=T, steps=steps,
                       eval_every=max(1, steps // 10), seed=seed, lr=lr, options={"init": init})


def count_params(task: str, T: int):
    def count(cell: str, hidden: int) -> int:
        config = memory_config(task, cell, hidden, T, 1, 0, 1e-3)
        return build_model(config, {"memory_task": task}).num_params
    return count


def run(out, task: str = "adding", lengths=(50, 100, 200, 400), steps: int = 2000, cells=CELL_NAMES,
        budget: int | None = None, seed: int = 0, lr: float = 3e-3, init: str = "chrono") -> dict:
    out = pathlib.Path(out)
    count = count_params(task, lengths[0])
    budget = budget or count("lstm", DEFAULT_BUDGET_HIDDEN)
    runs = []
    plan = [(cell, T) for T in lengths for cell in cells]
    for cell, T in tqdm(plan, desc=f"lab memory ({task})", unit="run", file=sys.stderr):
        hidden = hidden_for_budget(cell, budget, count)
        config = memory_config(task, cell, hidden, T, steps, seed, lr, init)
        trainer = train_quietly(config, out / "runs" / f"{cell}-T{T}")
        load_best(trainer.model, trainer.out)
        runs.append({"cell": cell, "T": T, "hidden": hidden, "params": trainer.model.num_params,
                     "test_loss": trainer.task.test_loss(), "baseline": memoryless_loss(task, T)})
    baseline = memoryless_loss(task, lengths[0]) if task == "adding" else {T: memoryless_loss(task, T) for T in lengths}
    results = {"task": task, "baseline": baseline, "budget": budget, "steps": steps, "init": init, "runs": runs}
    write_json(out / "results.json", results)
    plot_memory(out / "memory.png", results)
    return results
