"""Save any model or layer built in Python, and load it back: ``save(model, path)``, ``load_model(path)``.

The file is a safetensors checkpoint (``checkpoint.py``: the weights, checksummed, no pickle) whose metadata
names the class and the arguments it was built with. A class becomes saveable with ``@saveable``, which
registers it and makes each instance remember those arguments (``arguments``), all but ``dtype`` (the saved
arrays give it) and ``seed`` (it only draws the initial weights, which loading replaces).
"""

from __future__ import annotations

import functools
import inspect
import pathlib

import numpy as np

from .checkpoint import CheckpointError, load_checkpoint, load_params, save_checkpoint

SAVEABLE: dict[str, type] = {}  # class name -> class, for load_model
NOT_KEPT = ("self", "dtype", "seed")


def saveable(cls):
    """Register ``cls`` for ``load_model`` and make its instances keep their arguments in ``arguments``."""
    init, signature = cls.__init__, inspect.signature(cls.__init__)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        init(self, *args, **kwargs)
        self.arguments = {name: value.item() if isinstance(value, np.generic) else value
                          for name, value in bound.arguments.items() if name not in NOT_KEPT}

    cls.__init__ = __init__
    SAVEABLE[cls.__name__] = cls
    return cls


def save(model, path) -> None:
    """Write ``model`` (any ``@saveable`` model or layer) to ``path``: its weights and how to build it again."""
    if type(model).__name__ not in SAVEABLE:
        raise TypeError(f"{type(model).__name__} is not a model or layer rnnkit can save")
    dtypes = {str(value.dtype) for value in model.params.values()}
    meta = {"class": type(model).__name__, "arguments": model.arguments, "dtype": dtypes.pop() if dtypes else None}
    save_checkpoint(pathlib.Path(path), {f"param/{k}": v for k, v in model.params.items()}, meta)


def load_model(path):
    """The model or layer ``save`` wrote to ``path``, built again with its arguments and given its weights."""
    arrays, meta = load_checkpoint(path)
    cls = SAVEABLE.get(meta.get("class"))
    if cls is None:
        raise CheckpointError(f"{str(path)!r} holds no saved model (a run's checkpoint? load it with "
                              "rnnkit.runs.load_run on its folder)")
    dtype = {} if meta["dtype"] is None else {"dtype": np.dtype(meta["dtype"])}
    model = cls(**meta["arguments"], **dtype)
    load_params(model, arrays)
    return model
