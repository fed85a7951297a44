"""Options described once, where they live: a dataclass field made by ``option`` carries its default, its help
text, its choices or kind and its range check. ``TrainConfig`` (the options every task shares) and each task's
``Options`` are made of them; ``rnnkit train``'s flags, their ``--help`` and the checks are read off them."""

from __future__ import annotations

from dataclasses import field, fields

from . import _checks


def option(default, help: str, choices: tuple | None = None, kind: type | None = None, check=None):
    """A field: its default, the help ``rnnkit train --help`` shows, its choices or its kind (the default's type
    unless given) and ``check(flag, value)``, which raises ValueError when the value is out of range."""
    kind = kind or type(default)
    return field(default=default, metadata={"help": help, "choices": choices, "kind": kind, "check": check})


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check(options) -> None:
    """Raise ValueError, naming the flag, for a field of ``options`` outside its choices or range (None passes:
    it stands for a default)."""
    for f in fields(options):
        value = getattr(options, f.name)
        if value is None or "help" not in f.metadata:
            continue
        if f.metadata["choices"]:
            _checks.one_of(flag(f.name), value, f.metadata["choices"])
        elif f.metadata["kind"] is bool and not isinstance(value, bool):
            raise ValueError(f"{flag(f.name)} must be true or false, got {value!r}")
        if f.metadata["check"]:
            f.metadata["check"](flag(f.name), value)
