"""rnnkit: recurrent sequence models from their equations in NumPy, with exact backpropagation through time."""

from . import engine  # noqa: F401  first: before NumPy loads, it sets how long OpenBLAS's idle threads spin (see there)
from .layers import GRU, LSTM, RNN, Dense, Dropout, Embedding, parameters
from .saving import load_model, save

__version__ = "0.1.0"

__all__ = ["RNN", "GRU", "LSTM", "Dense", "Dropout", "Embedding", "parameters", "save", "load_model", "__version__"]
