"""How a shape's time loop runs, the layer's own loop or the persistent loop (the workers sharing rows or units):
measured once per machine, then kept.

Which is faster depends on the CPU (its vector registers, caches and cores), on the shape (batch, steps, input
and hidden sizes), on training or inference, and on what else runs beside the workers; a rule written on one
machine was wrong on another (the engine was slower than the loop on an AVX2 CPU it had been turned on for).
So, as cuDNN's benchmark mode and FFTW's plans do, the first call of a layer at a shape the machine has not
seen runs that call every way it can run, a few times each on the call's own inputs (``measure``), and the
fastest serves every later call of that shape.

The choice changes float32 results in their last bits (the ways sum products in different orders), so a
run resumed in another process must make the same choice: choices are kept on disk per machine, in
``$RNNKIT_CACHE/engine.json`` (default ``~/.cache/rnnkit``), keyed by rnnkit's version, the instruction set
numba compiles for, the CPU's name and the shape. Delete the file to measure again; ``RNNKIT_PERSISTENT=on`` or ``off`` skips all
of this. Steps are keyed by the power of two at or above their count (sequences of 33 to 64 steps share a
choice), so that batches of ragged lengths do not each cost a measurement.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import pathlib
import platform
import threading

try:
    import fcntl
except ImportError:  # not POSIX: no lock between processes
    fcntl = None

from ..files import write_json

log = logging.getLogger("rnnkit.engine")
ROUNDS = 3  # timed calls each way, alternating, after one untimed call each (compiles, fills workspaces)
_lock = threading.Lock()
_choices: dict[str, dict] | None = None  # key -> {"choice": a way, "ms": {way: best milliseconds}}


def path() -> pathlib.Path:
    return pathlib.Path(os.environ.get("RNNKIT_CACHE") or pathlib.Path.home() / ".cache" / "rnnkit") / "engine.json"


@functools.cache
def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), or what the platform says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


@functools.cache
def machine(isa: str) -> str:
    """The first words of every key made on this machine with this version of rnnkit (its kernels may change)."""
    from .. import __version__

    return f"rnnkit {__version__} | {isa} | {cpu_name()} | "


def key(isa: str, workers: int, short_spin: bool, peepholes: bool, steps: int, batch: int, inputs: int,
        hidden: int, training: bool) -> str:
    """The words a choice is kept under: this machine and the shape of the call."""
    bucket = 1 << max(0, steps - 1).bit_length()
    return (f"{machine(isa)}{workers} workers{'' if short_spin else ', BLAS spinning'} | "
            f"LSTM{' with peepholes' if peepholes else ''} B {batch} T <= {bucket} F {inputs} H {hidden} "
            f"{'training' if training else 'inference'}")


def choice(key: str, ways: list[str], trial) -> str:
    """Which of ``ways`` runs calls under ``key``: the one kept, or the fastest measured now with
    ``trial(way)``, which makes one call that way and returns the seconds it took."""
    with _lock:
        kept = _loaded().get(key)
    if kept is not None and kept["choice"] in ways:
        return kept["choice"]
    made = measure(ways, trial)
    log.info("%s: %s: %s", key, ", ".join(f"{way} {ms:.2f} ms" for way, ms in made["ms"].items()), made["choice"])
    with _lock:
        made = _choices[key] = _save(key, made)
    return made["choice"]


def measure(ways: list[str], trial) -> dict:
    """The best of ``ROUNDS`` calls of each way, taken in turn, after one untimed call of each."""
    for way in ways:
        trial(way)
    times = {way: [] for way in ways}
    for _ in range(ROUNDS):
        for way in ways:
            times[way].append(trial(way))
    best = {way: min(seconds) for way, seconds in times.items()}
    return {"choice": min(best, key=best.get), "ms": {way: round(s * 1e3, 3) for way, s in best.items()}}


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
    return {k: v for k, v in choices.items() if isinstance(v, dict) and isinstance(v.get("choice"), str)
            and isinstance(v.get("ms"), dict)}


def _save(key: str, made: dict) -> dict:
    """Add one choice to the file and return the choice to use: the one another process kept for ``key``
    meanwhile, if any (MPI ranks on one machine measure at once; the first to write wins, so that all use the
    same way and resume alike), else ``made``. The file is read and written under an exclusive lock where
    the system has one. A machine that cannot write it still uses the choice in this process."""
    try:
        path().parent.mkdir(parents=True, exist_ok=True)
        with open(path().with_name(path().name + ".lock"), "a") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            on_disk = _read()
            if key not in on_disk:
                on_disk[key] = made
                write_json(path(), on_disk)
            return on_disk[key]
    except OSError as error:
        log.warning("could not keep the engine's choice in %s (%s)", path(), error)
        return made


def describe(hidden: int) -> list[str]:
    """Which loop runs an LSTM of ``hidden`` units on this machine, as measured and kept (``rnnkit info``)."""
    from . import kernels, persistent

    if persistent.mode != "auto":
        return [f"engine: RNNKIT_PERSISTENT={persistent.mode}"]
    if kernels.ISA is None:
        return ["engine: the layer's loop (no microkernel is tuned for this CPU's instruction set)"]
    found = [(key.split(" | ")[-1], made) for key, made in sorted(kept().items())
             if key.startswith(machine(kernels.ISA)) and f" H {hidden} " in key]
    if not found:
        return [f"engine: not measured on this machine for H {hidden} yet (the first call of each shape measures)"]
    names = {"loop": "the layer's loop", "rows": "persistent, rows shared", "units": "persistent, units shared"}
    lines = [f"engine on this machine ({kernels.ISA}), as measured and kept in {path()}:"]
    for shape, made in found:
        times = ", ".join(f"{names.get(way, way)} {ms:.2f} ms" for way, ms in made["ms"].items())
        lines.append(f"  {shape}: {names.get(made['choice'], made['choice'])} ({times})")
    return lines
