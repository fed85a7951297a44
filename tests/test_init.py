"""Initialisers: chrono biases of gated layers (Tallec & Ollivier 2018)."""

import numpy as np
import pytest

from rnnkit.init import chrono
from rnnkit.layers import GRU, LSTM, RNN


@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
def test_chrono_spreads_the_lstm_forget_gate_over_the_sequence_and_closes_its_input_gate(layers, bidirectional):
    lstm = LSTM(3, 50, layers, bidirectional, seed=0)
    weights = {k: v.copy() for k, v in lstm.params.items() if not k.endswith(".b")}
    chrono(lstm, 200, np.random.default_rng(0))
    H = 50
    biases = [v for k, v in lstm.params.items() if k.endswith(".b")]
    assert len(biases) == layers * (2 if bidirectional else 1)
    for b in biases:
        i, f, g, o = b[:H], b[H : 2 * H], b[2 * H : 3 * H], b[3 * H :]
        assert np.all(f >= 0) and np.all(f <= np.log(199) + 1e-6) and f.std() > 0.5
        np.testing.assert_array_equal(i, -f)
        assert not g.any() and not o.any()
    assert not any(np.array_equal(biases[0], b) for b in biases[1:])  # each layer and direction its own draw
    for k, v in weights.items():
        np.testing.assert_array_equal(lstm.params[k], v)


def test_chrono_sets_the_gru_update_gate_only_and_leaves_a_plain_rnn_alone():
    gru = GRU(3, 40, seed=0)
    chrono(gru, 100, np.random.default_rng(1))
    b = gru.params["l0.b"]
    assert not b[:40].any() and not b[80:].any() and np.all(b[40:80] >= 0) and b[40:80].max() > 3
    assert not gru.params["l0.b_hn"].any()
    rnn = RNN(3, 40, seed=0)
    before = {k: v.copy() for k, v in rnn.params.items()}
    chrono(rnn, 100, np.random.default_rng(1))
    for k, v in before.items():
        np.testing.assert_array_equal(rnn.params[k], v)


def test_the_memory_task_starts_from_chrono_unless_told_standard():
    from rnnkit.tasks.memory import build_model
    from rnnkit.config import TrainConfig

    def forget_bias(init):
        config = TrainConfig(task="memory", hidden=8, seq_len=300, options={} if init is None else {"init": init})
        return build_model(config, {"memory_task": "adding"}).params["rnn.l0.b"][8:16]

    assert forget_bias(None).max() > 3 and np.array_equal(forget_bias(None), forget_bias("chrono"))
    np.testing.assert_array_equal(forget_bias("standard"), np.ones(8))
