"""ONNX export: every model kind and cell form, run in ONNX Runtime, equals rnnkit on the same inputs
(float32, within 1e-5 relative), with ragged lengths and nonzero initial states."""

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason='the ONNX tests need the onnx extra: pip install -e ".[onnx]"')
ort = pytest.importorskip("onnxruntime", reason='the ONNX tests need the onnx extra: pip install -e ".[onnx]"')

import rnnkit  # noqa: E402
from rnnkit.interop.onnx import export  # noqa: E402
from rnnkit.layers import Recurrent  # noqa: E402
from rnnkit.models import LanguageModel, SequenceClassifier  # noqa: E402
from rnnkit.models.tagger import SequenceTagger  # noqa: E402
from rnnkit.models.piano_roll import PianoRollModel  # noqa: E402
from rnnkit.models.seq2seq import Seq2Seq  # noqa: E402

RTOL, ATOL = 1e-5, 1e-5
CELLS = list(rnnkit.layers.CELLS)  # what the CLI's models are built of
LAYERS = [  # every cell form of the layers
    lambda **k: rnnkit.RNN(3, 5, **k), lambda **k: rnnkit.RNN(3, 5, nonlinearity="relu", **k),
    lambda **k: rnnkit.GRU(3, 5, **k), lambda **k: rnnkit.GRU(3, 5, reset_after=False, **k),
    lambda **k: rnnkit.LSTM(3, 5, **k), lambda **k: rnnkit.LSTM(3, 5, peephole=True, **k),
]
LENGTHS = np.array([5, 2, 4])


def perturbed(model, seed=0):
    """The model with every parameter moved off its initial value, so that zero biases, b_hn and peepholes
    are tested too."""
    rng = np.random.default_rng(seed)
    for layer in _all_layers(model):
        for key, value in layer.params.items():
            value += (0.3 * rng.standard_normal(value.shape)).astype(value.dtype)
    return model


def _all_layers(model):
    if isinstance(model, Recurrent):
        return [model]
    if hasattr(model, "layers"):
        return list(model.layers.values())
    return [v for v in vars(model).values() if hasattr(v, "params") and hasattr(v, "grads")]


def run(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds)))


def mask_of(lengths, T):
    return np.arange(T)[None, :] < lengths[:, None]


def states(model_rnn, rng, B=3):
    shape = (model_rnn.num_layers * model_rnn.num_directions, B, model_rnn.hidden_size)
    h = rng.standard_normal(shape).astype(np.float32)
    return (h, rng.standard_normal(shape).astype(np.float32)) if model_rnn.cell.state_names == ("h", "c") else h


def state_feeds(state):
    return {"state_h": state[0], "state_c": state[1]} if isinstance(state, tuple) else {"state_h": state}


def assert_close(ours, theirs):
    np.testing.assert_allclose(theirs, ours, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("make", LAYERS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_every_cell_form_of_a_stacked_layer(tmp_path, make, bidirectional):
    layer = perturbed(make(num_layers=2, bidirectional=bidirectional, seed=0))
    rng = np.random.default_rng(1)
    x, state = rng.standard_normal((3, 5, 3)).astype(np.float32), states(layer, rng)
    y, final = layer.forward(x, state, mask_of(LENGTHS, 5), training=False)
    (path,) = export(layer, tmp_path / "layer.onnx")
    out = run(path, {"x": x, "lengths": LENGTHS, **state_feeds(state)})
    assert_close(y, out["y"])
    for ours, name in zip(final if isinstance(final, tuple) else (final,), ("final_h", "final_c")):
        assert_close(ours, out[name])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("conditional", [False, True])
def test_language_model(tmp_path, cell, conditional):
    model = perturbed(LanguageModel(7, cell, 6, 2, 4, seed=1, num_labels=3 if conditional else None))
    rng = np.random.default_rng(2)
    ids, state = rng.integers(0, 7, (3, 5)), states(model.rnn, rng)
    labels = np.array([2, 0, 1]) if conditional else None
    logits, final = model.forward(ids, state, mask_of(LENGTHS, 5), training=False, labels=labels)
    (path,) = export(model, tmp_path / "lm.onnx", metadata={"task": "lm"})
    feeds = {"ids": ids, "lengths": LENGTHS, **state_feeds(state)}
    if conditional:
        feeds["labels"] = labels
    out = run(path, feeds)
    assert_close(logits, out["logits"])
    for ours, name in zip(final if isinstance(final, tuple) else (final,), ("final_h", "final_c")):
        assert_close(ours, out[name])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("pool", ["last", "mean", "max"])
def test_bidirectional_classifier(tmp_path, cell, pool):
    model = perturbed(SequenceClassifier(4, vocab_size=9, cell=cell, hidden_size=5, num_layers=2, bidirectional=True,
                                         embed_size=3, pool=pool, seed=0))
    ids = np.random.default_rng(3).integers(0, 9, (3, 5))
    logits = model.forward(ids, mask_of(LENGTHS, 5), training=False)
    (path,) = export(model, tmp_path / "classifier.onnx")
    out = run(path, {"ids": ids, "lengths": LENGTHS, **state_feeds(zero_states(model.rnn))})
    assert_close(logits, out["logits"])


def zero_states(layer, B=3):
    shape = (layer.num_layers * layer.num_directions, B, layer.hidden_size)
    return (np.zeros(shape, np.float32),) * 2 if layer.cell.state_names == ("h", "c") else np.zeros(shape, np.float32)


def test_feature_classifier_regressor(tmp_path):
    model = perturbed(SequenceClassifier(1, input_size=2, cell="lstm", hidden_size=5, seed=0))
    x = np.random.default_rng(4).standard_normal((3, 5, 2)).astype(np.float32)
    (path,) = export(model, tmp_path / "adding.onnx")
    out = run(path, {"x": x, "lengths": LENGTHS, **state_feeds(zero_states(model.rnn))})
    assert_close(model.forward(x, mask_of(LENGTHS, 5), training=False), out["logits"])


@pytest.mark.parametrize("cell", CELLS)
def test_bidirectional_tagger(tmp_path, cell):
    model = perturbed(SequenceTagger(8, 3, cell, 5, num_layers=2, embed_size=4, seed=0))
    ids = np.random.default_rng(5).integers(0, 8, (3, 5))
    (path,) = export(model, tmp_path / "tagger.onnx")
    out = run(path, {"ids": ids, "lengths": LENGTHS, **state_feeds(zero_states(model.rnn))})
    assert_close(model.forward(ids, mask_of(LENGTHS, 5), training=False), out["logits"])


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_piano_roll(tmp_path, cell):
    model = perturbed(PianoRollModel(num_keys=6, cell=cell, hidden_size=5, num_layers=2, seed=0))
    rng = np.random.default_rng(6)
    frames, state = (rng.random((3, 5, 6)) < 0.3).astype(np.float32), states(model.rnn, rng)
    logits, final = model.forward(frames, state, mask_of(LENGTHS, 5), training=False)
    (path,) = export(model, tmp_path / "roll.onnx")
    out = run(path, {"x": frames, "lengths": LENGTHS, **state_feeds(state)})
    assert_close(logits, out["logits"])
    assert_close(final[0] if isinstance(final, tuple) else final, out["final_h"])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("attention", [True, False])
def test_encoder_and_decoder_step(tmp_path, cell, attention):
    model = perturbed(Seq2Seq(9, 7, cell, 5, num_layers=2, bidirectional=True, embed_size=4, attention=attention,
                              attention_size=6, seed=0))
    rng = np.random.default_rng(7)
    source = rng.integers(0, 9, (3, 5))
    encoder_path, decoder_path = export(model, tmp_path / "dates.onnx")
    assert encoder_path.name == "dates-encoder.onnx" and decoder_path.name == "dates-decoder-step.onnx"
    encoded = run(encoder_path, {"ids": source, "lengths": LENGTHS})
    decoding = model.decoder_for(source, mask_of(LENGTHS, 5))
    h, _, state0 = decoding.memory
    assert_close(h, encoded["memory"])
    assert_close(state0[0] if isinstance(state0, tuple) else state0, encoded["state_h"])
    state, feeds_state = None, {"state_h": encoded["state_h"]}
    if cell == "lstm":
        feeds_state["state_c"] = np.zeros_like(encoded["state_h"])
    ids = np.array([1, 1, 1])
    for _ in range(3):  # three decoder steps, each fed the last one's state and the argmax
        logits, state = decoding.step(ids, state)
        out = run(decoder_path, {"ids": ids, "memory": encoded["memory"], "source_lengths": LENGTHS, **feeds_state})
        assert_close(logits, out["logits"])
        if attention:
            assert_close(decoding.alphas[-1][:, 0], out["attention"])
        feeds_state = {"state_h": out["final_h"], **({"state_c": out["final_c"]} if cell == "lstm" else {})}
        ids = logits.argmax(axis=1)


def test_the_file_describes_itself(tmp_path):
    model = LanguageModel(5, "lstm", 4, 1, 3, seed=0)
    (path,) = export(model, tmp_path / "lm.onnx", metadata={"task": "lm", "start": 1, "vocab": {"itos": list("abcde")}})
    props = {p.key: json.loads(p.value) for p in onnx.load(str(path)).metadata_props}  # every value is JSON
    assert props["rnnkit.kind"] == "language_model" and props["rnnkit.task"] == "lm" and props["rnnkit.start"] == 1
    assert props["rnnkit.vocab"] == {"itos": list("abcde")}
    assert set(props["rnnkit.inputs"]) == {"ids", "lengths", "state_h", "state_c"}
    assert set(props["rnnkit.outputs"]) == {"logits", "final_h", "final_c"}
    assert props["rnnkit.config"]["hidden_size"] == 4


def test_export_refuses_what_it_cannot_write(tmp_path):
    with pytest.raises(TypeError, match="model must be one of rnnkit's models or recurrent layers, got dict"):
        export({}, tmp_path / "x.onnx")
