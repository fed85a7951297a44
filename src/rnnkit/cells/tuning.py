"""Whether the persistent loop or the layer's own loop runs a shape: measured once per machine, then kept.

Which is faster depends on the CPU (its vector registers, caches and cores), on the shape (batch, steps, input
and hidden sizes), on training or inference, and on what else runs beside the workers; a rule written on one
machine was wrong on another (the engine took 1.8x the loop's time on an AVX2 CPU it had been turned on for).
So, as cuDNN's benchmark mode and FFTW's plans do, the first call of a layer at a shape the machine has not
seen runs that call both ways, a few times each on the call's own inputs (``measure``), and the faster way
serves every later call of that shape.

The choice changes float32 results in their last bits (the two loops sum products in different orders), so a
run resumed in another process must make the same choice: choices are kept on disk per machine, in
``$RNNKIT_CACHE/engine.json`` (default ``~/.cache/rnnkit``), keyed by the instruction set numba compiles for,
the CPU's name and the shape. Delete the file to measure again; ``RNNKIT_PERSISTENT=on`` or ``off`` skips all
of this. Steps are keyed by the power of two at or above their count (sequences of 33 to 64 steps share a
choice), so that batches of ragged lengths do not each cost a measurement.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import platform
import threading

from ..files import write_json

log = logging.getLogger("rnnkit.engine")
ROUNDS = 3  # timed calls each way, alternating, after one untimed call each (compiles, fills workspaces)
_lock = threading.Lock()
_choices: dict[str, dict] | None = None  # key -> {"engine": bool, "engine_ms": float, "loop_ms": float}


def path() -> pathlib.Path:
    return pathlib.Path(os.environ.get("RNNKIT_CACHE") or pathlib.Path.home() / ".cache" / "rnnkit") / "engine.json"


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), or what the platform says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def key(isa: str, workers: int, short_spin: bool, peepholes: bool, steps: int, batch: int, inputs: int,
        hidden: int, training: bool) -> str:
    """The words a choice is kept under: this machine and the shape of the call."""
    bucket = 1 << max(0, steps - 1).bit_length()
    return (f"{isa} | {cpu_name()} | {workers} workers{'' if short_spin else ', BLAS spinning'} | "
            f"LSTM{' with peepholes' if peepholes else ''} B {batch} T <= {bucket} F {inputs} H {hidden} "
            f"{'training' if training else 'inference'}")


def choice(key: str, trial) -> bool:
    """Whether the engine runs calls under ``key``: kept, or measured now with ``trial(engine: bool)``, which
    makes one call and returns the seconds it took."""
    with _lock:
        kept = _loaded().get(key)
    if kept is not None:
        return kept["engine"]
    made = measure(trial)
    log.info("%s: persistent loop %.2f ms, layer's loop %.2f ms: %s", key, made["engine_ms"], made["loop_ms"],
             "persistent loop" if made["engine"] else "layer's loop")
    with _lock:
        _choices[key] = made
        _save(key, made)
    return made["engine"]


def measure(trial) -> dict:
    """Best of ``ROUNDS`` calls each way, alternating, after one untimed call each."""
    trial(False), trial(True)
    loop, engine = [], []
    for _ in range(ROUNDS):
        loop.append(trial(False))
        engine.append(trial(True))
    best_loop, best_engine = min(loop), min(engine)
    return {"engine": best_engine < best_loop, "engine_ms": round(best_engine * 1e3, 3),
            "loop_ms": round(best_loop * 1e3, 3)}


def kept() -> dict[str, dict]:
    """Every choice this machine keeps, by key."""
    with _lock:
        return dict(_loaded())


def _loaded() -> dict[str, dict]:
    global _choices
    if _choices is None:
        _choices = _read()
    return _choices


def _read() -> dict[str, dict]:
    try:
        with open(path(), encoding="utf-8") as file:
            choices = json.load(file)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:  # unreadable: measure again, and say so once
        log.warning("ignoring %s (%s); the engine's choices will be measured again", path(), error)
        return {}
    if not isinstance(choices, dict):
        log.warning("ignoring %s (not a JSON object); the engine's choices will be measured again", path())
        return {}
    return {k: v for k, v in choices.items() if isinstance(v, dict) and isinstance(v.get("engine"), bool)}


def _save(key: str, made: dict) -> None:
    """Add one choice to the file, keeping what other processes wrote meanwhile; a machine that cannot write
    it still uses the choice in this process."""
    try:
        on_disk = _read()
        on_disk[key] = made
        write_json(path(), on_disk)
    except OSError as error:
        log.warning("could not keep the engine's choice in %s (%s)", path(), error)
