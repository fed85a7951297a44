"""Any model or layer built in Python saves and loads: rnnkit.save(model, path), rnnkit.load_model(path)."""

import json
import subprocess
import sys

import numpy as np
import pytest

import rnnkit
from rnnkit.checkpoint import CheckpointError
from rnnkit.layers import AdditiveAttention
from rnnkit.layers.pooling import TimePooling
from rnnkit.models import LanguageModel, PianoRollModel, Seq2Seq, SequenceClassifier, SequenceTagger
from rnnkit.saving import SAVEABLE

BUILT = [
    lambda: rnnkit.RNN(3, 4, num_layers=2, nonlinearity="relu", seed=1),
    lambda: rnnkit.GRU(3, 4, bidirectional=True, reset_after=False, seed=1),
    lambda: rnnkit.LSTM(3, 4, peephole=True, forget_bias=0.5, dtype=np.float64, seed=1),
    lambda: rnnkit.Dense(3, 2, seed=1),
    lambda: rnnkit.Embedding(5, 3, seed=1),
    lambda: rnnkit.Dropout(0.3),
    lambda: AdditiveAttention(4, 3, 5, seed=1),
    lambda: TimePooling("mean", 2),
    lambda: SequenceClassifier(3, vocab_size=7, cell="gru", hidden_size=8, pool="max", seed=1),
    lambda: LanguageModel(7, hidden_size=8, embed_size=4, num_labels=2, seed=1),
    lambda: SequenceTagger(7, 3, hidden_size=8, embed_size=4, seed=1),
    lambda: Seq2Seq(7, 6, hidden_size=8, embed_size=4, attention_size=5, seed=1),
    lambda: PianoRollModel(num_keys=5, hidden_size=8, seed=1),
]


def test_every_saveable_class_is_tested():
    assert {type(build()).__name__ for build in BUILT} == set(SAVEABLE)


@pytest.mark.parametrize("build", BUILT, ids=lambda build: type(build()).__name__)
def test_a_model_or_layer_saves_and_loads_with_its_arguments_and_weights(build, tmp_path):
    model = build()
    for value in model.params.values():  # weights no freshly built model has
        value[...] = np.random.default_rng(2).standard_normal(value.shape)
    rnnkit.save(model, tmp_path / "model.safetensors")
    loaded = rnnkit.load_model(tmp_path / "model.safetensors")
    assert type(loaded) is type(model) and loaded.arguments == model.arguments
    assert loaded.params.keys() == model.params.keys()
    for name, value in model.params.items():
        assert loaded.params[name].dtype == value.dtype and np.array_equal(loaded.params[name], value), name


def test_a_saved_lstm_gives_the_same_outputs_in_a_fresh_process(tmp_path):
    lstm = rnnkit.LSTM(2, 6, num_layers=2, bidirectional=True, seed=3)
    x = np.random.default_rng(4).standard_normal((3, 5, 2)).astype(np.float32)
    y, _ = lstm.forward(x, training=False)
    rnnkit.save(lstm, tmp_path / "lstm.safetensors")
    np.save(tmp_path / "x.npy", x)
    code = ("import json, sys, numpy as np, rnnkit; m = rnnkit.load_model(sys.argv[1]); "
            "print(json.dumps(m.forward(np.load(sys.argv[2]), training=False)[0].tolist()))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lstm.safetensors"), str(tmp_path / "x.npy")],
                         capture_output=True, text=True, check=True).stdout
    assert np.array_equal(np.array(json.loads(out), np.float32), y)


def test_a_run_checkpoint_or_another_object_is_refused(tmp_path):
    with pytest.raises(TypeError, match="not a model or layer rnnkit can save"):
        rnnkit.save(object(), tmp_path / "x.safetensors")
    from rnnkit.cli import main

    assert main(["train", "--steps", "1", "--hidden", "8", "--out", str(tmp_path / "run")]) == 0
    with pytest.raises(CheckpointError, match="holds no saved model"):
        rnnkit.load_model(tmp_path / "run" / "last.safetensors")
