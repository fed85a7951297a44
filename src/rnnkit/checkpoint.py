"""Checkpoints: one safetensors file holding the arrays, with JSON metadata in its header. No pickle.

The metadata carries a format name and version and a SHA-256 of the arrays, so a truncated, corrupted or
foreign file is refused with a clear ``CheckpointError``. Writes are atomic (``files.write_atomic``: a
temporary file beside it, flushed to disk, renamed over the old one), so a crash never leaves half a checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import pathlib

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save

from .files import write_atomic

FORMAT, VERSION = "rnnkit-checkpoint", 1


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, corrupted, of another format or version, or mismatched."""


def _digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{value.dtype.str}:{value.shape}".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def save_checkpoint(path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write ``arrays`` and the JSON-serialisable ``meta`` to ``path`` atomically."""
    path = pathlib.Path(path)
    header = {"format": FORMAT, "version": VERSION, "sha256": _digest(arrays), "meta": meta}
    data = save({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata={"rnnkit": json.dumps(header)})
    write_atomic(path, data)


def load_checkpoint(path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by ``save_checkpoint``: ``(arrays, meta)``."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {str(path)!r}")
    try:
        arrays = load_file(path)
        with safe_open(path, framework="numpy") as f:
            header = json.loads(f.metadata()["rnnkit"])
    except (SafetensorError, KeyError, TypeError, ValueError) as error:
        raise CheckpointError(
            f"{str(path)!r} is not a readable rnnkit checkpoint (truncated or corrupted?): {error}"
        ) from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not an rnnkit checkpoint")
    if header.get("version") != VERSION:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint format version {header.get('version')}, this rnnkit reads {VERSION}"
        )
    if header.get("sha256") != _digest(arrays):
        raise CheckpointError(f"{str(path)!r} is corrupted: its arrays do not match their checksum")
    return arrays, header["meta"]


def load_params(model, arrays: dict) -> None:
    """Copy a checkpoint's ``param/<name>`` arrays into ``model.params`` (shapes must match)."""
    for name, value in model.params.items():
        saved = arrays.get(f"param/{name}")
        if saved is None or saved.shape != value.shape:
            got = None if saved is None else saved.shape
            raise CheckpointError(f"checkpoint parameter {name} must have shape {value.shape}, got {got}")
        value[...] = saved


def load_best(model, run_dir: pathlib.Path) -> None:
    """Put the weights of the run's best checkpoint into ``model`` (a task's report scores them)."""
    load_params(model, load_checkpoint(pathlib.Path(run_dir) / "best.safetensors")[0])
