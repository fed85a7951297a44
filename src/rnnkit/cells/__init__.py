"""One module per cell family: the equations of one time step, forward next to backward."""

from .gru import GRUCell
from .lstm import LSTMCell
from .rnn import RNNCell

__all__ = ["RNNCell", "GRUCell", "LSTMCell"]
