"""TensorBoard event files beside ``metrics.jsonl``, through tensorboardX (the optional ``tensorboard`` extra).

``rnnkit train`` writes them when tensorboardX is installed, unless ``--no-tensorboard``; with
``--tensorboard`` a missing tensorboardX is an error. They go to ``RUN/tensorboard``: ``tensorboard --logdir
runs`` shows every run's training loss, learning rate, gradient norm and speed, and its validation metrics.
"""

from __future__ import annotations

import numbers


class NoBoard:
    """What the trainer writes to when there are no event files: nothing."""

    def scalars(self, group: str, values: dict, step: int) -> None:
        pass

    def close(self) -> None:
        pass


class Board(NoBoard):
    def __init__(self, folder, writer_class):
        self.writer = writer_class(str(folder))

    def scalars(self, group: str, values: dict, step: int) -> None:
        """Each number of ``values`` as the scalar ``group/name`` at ``step`` (others, and the step, skipped)."""
        for name, value in values.items():
            if name != "step" and isinstance(value, numbers.Real) and not isinstance(value, bool):
                self.writer.add_scalar(f"{group}/{name}", float(value), step)

    def close(self) -> None:
        self.writer.close()


def open_board(folder, wanted: bool | None) -> NoBoard:
    """A writer of event files in ``folder``: when ``wanted`` is True (an error if tensorboardX is missing), or
    None and tensorboardX is installed; else one that writes nothing."""
    if wanted is False:
        return NoBoard()
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        if wanted:
            raise ImportError('--tensorboard needs tensorboardX: pip install "rnnkit[tensorboard]"') from None
        return NoBoard()
    return Board(folder, SummaryWriter)
