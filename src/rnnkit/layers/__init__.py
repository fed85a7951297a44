"""Layers: each has ``params`` and ``grads`` (same keys), ``forward``, ``backward`` and ``zero_grad``."""

from .attention import AdditiveAttention
from .base import Layer, parameters
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .recurrent import CELLS, GRU, LSTM, RNN, Recurrent

__all__ = ["CELLS", "Layer", "parameters", "Dense", "Dropout", "Embedding", "Recurrent", "RNN", "GRU", "LSTM",
           "AdditiveAttention"]
