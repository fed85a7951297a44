"""ONNX export: every model the CLI trains as a graph of standard operators, for runtimes without NumPy.

The recurrent stack becomes ONNX's own ``RNN``, ``GRU`` and ``LSTM`` operators, one per layer (both
directions in one operator with ``direction="bidirectional"``), time-major as the operators are:

    X (T, B, F)   W (D, G*H, F)   R (D, G*H, H)   B (D, 2*G*H) = [Wb, Rb]   sequence_lens (B,)
    initial_h, initial_c (D, B, H)   P (D, 3H) peepholes   ->   Y (T, D, B, H), Y_h, Y_c (D, B, H)

rnnkit's packed weights map to them as ``W = W_x.T`` and ``R = W_h.T`` with the gate blocks reordered
(rnnkit, as PyTorch: LSTM i f g o, GRU r z n; ONNX: LSTM i o f c, GRU z r h), ``Wb = b`` and ``Rb = 0``, but
for the GRU candidate's recurrent bias ``Rbh = b_hn``. PyTorch's GRU (``reset_after``) is ONNX's
``linear_before_reset=1``; the course's (reset applied to h<t-1> before the product, no b_hn) is ONNX's
default ``linear_before_reset=0``, whose equation it is. Peepholes go to ``P`` in ONNX's order i, o, f.

The embedding is ``Gather``; batch and time axes are dynamic; ragged batches pass their lengths, and every
graph takes its initial states as inputs (zeros to start). Exported weights are float32. The model's file
carries in ``metadata_props`` what a runtime needs without rnnkit: ``rnnkit.kind``, ``rnnkit.inputs`` and
``rnnkit.outputs`` (names, shapes, meanings), ``rnnkit.config`` and whatever the caller adds (the CLI: the
task, vocabularies with their special tokens, the start token, labels), every value as JSON (so a
string is quoted).

    export(model, "model.onnx", metadata={...}) -> [paths written]
    (an encoder-decoder writes two graphs: "model-encoder.onnx" and "model-decoder-step.onnx")
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from ..layers.recurrent import GRU, LSTM, Recurrent
from ..models import LanguageModel, SequenceClassifier
from ..models.piano_roll import PianoRollModel
from ..models.seq2seq import Seq2Seq
from ..models.tagger import SequenceTagger

OPSET = 18
GATE_ORDER = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn": [0]}  # ONNX block k = rnnkit block GATE_ORDER[kind][k]


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError('ONNX export needs the onnx package: pip install -e ".[onnx]"') from None
    return onnx


class Graph:
    """A graph under construction: nodes, float32 initializers, inputs and outputs, with fresh names."""

    def __init__(self):
        self.onnx = _onnx()
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, hint: str, value, dtype=np.float32) -> str:
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(value, dtype=dtype), name))
        return name

    def ints(self, hint: str, value) -> str:
        """An int64 initializer: axes, shapes, slice bounds."""
        return self.constant(hint, value, np.int64)

    def op(self, op_type: str, inputs, hint: str | None = None, outputs: int = 1, **attributes):
        names = [self.name(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), names, **attributes))
        return names[0] if outputs == 1 else names

    def input(self, name: str, elem_type, shape):
        self.inputs.append(self.onnx.helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def output(self, source: str, name: str, elem_type, shape) -> None:
        self.nodes.append(self.onnx.helper.make_node("Identity", [source], [name]))
        self.outputs.append(self.onnx.helper.make_tensor_value_info(name, elem_type, shape))

    def save(self, path, title: str, metadata: dict) -> None:
        onnx = self.onnx
        graph = onnx.helper.make_graph(self.nodes, title, self.inputs, self.outputs, self.initializers)
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
                                       producer_name="rnnkit")
        for key, value in metadata.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, json.dumps(value)
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, str(path))


FLOAT, INT64, INT32 = 1, 7, 6  # onnx.TensorProto element types


def _cell_kind(layer: Recurrent) -> str:
    return "lstm" if isinstance(layer, LSTM) else "gru" if isinstance(layer, GRU) else "rnn"


def _reorder(array: np.ndarray, kind: str, H: int) -> np.ndarray:
    """Gate blocks along the first axis from rnnkit's order to ONNX's."""
    return np.concatenate([array[k * H : (k + 1) * H] for k in GATE_ORDER[kind]], axis=0)


def _layer_weights(layer: Recurrent, k: int) -> dict:
    """W, R, B (and P) of layer k, both directions stacked, in ONNX's layout and gate order."""
    kind, H = _cell_kind(layer), layer.hidden_size
    W, R, B, P = [], [], [], []
    for direction in range(layer.num_directions):
        p = layer._group(layer.params, k, direction)
        W.append(_reorder(p["W_x"].T, kind, H))
        R.append(_reorder(p["W_h"].T, kind, H))
        recurrent_bias = np.zeros_like(p["b"])
        if "b_hn" in p:
            recurrent_bias[2 * H :] = p["b_hn"]  # rnnkit's n block, ONNX's h block: last in both orders
        B.append(np.concatenate([_reorder(p["b"], kind, H), _reorder(recurrent_bias, kind, H)]))
        if kind == "lstm" and layer.cell.peephole:
            P.append(np.concatenate([p["p_i"], p["p_o"], p["p_f"]]))
    weights = {"W": np.stack(W), "R": np.stack(R), "B": np.stack(B)}
    if P:
        weights["P"] = np.stack(P)
    return weights


def recurrent(g: Graph, layer: Recurrent, x: str, lengths: str, h0: str, c0: str | None):
    """The stack over time-major x (T, B, F): (y (T, B, D*H), h_T (L*D, B, H), c_T or None)."""
    kind, D, H = _cell_kind(layer), layer.num_directions, layer.hidden_size
    attributes = {"hidden_size": H, "direction": "bidirectional" if D == 2 else "forward"}
    if kind == "gru":
        attributes["linear_before_reset"] = int(layer.cell.reset_after)
    if kind == "rnn":
        attributes["activations"] = ["Relu" if layer.cell.nonlinearity == "relu" else "Tanh"] * D
    finals_h, finals_c = [], []
    for k in range(layer.num_layers):
        w = _layer_weights(layer, k)
        rows = [g.ints("rows", [k * D]), g.ints("rows", [(k + 1) * D])]
        state_inputs = [g.op("Slice", [h0, *rows], "initial_h")]
        if kind == "lstm":
            state_inputs.append(g.op("Slice", [c0, *rows], "initial_c"))
            state_inputs.append(g.constant("P", w["P"]) if "P" in w else "")
        inputs = [x, g.constant("W", w["W"]), g.constant("R", w["R"]), g.constant("B", w["B"]), lengths, *state_inputs]
        outs = g.op(kind.upper(), inputs, kind, outputs=3 if kind == "lstm" else 2, **attributes)
        y = g.op("Transpose", [outs[0]], perm=[0, 2, 1, 3])  # (T, B, D, H)
        x = g.op("Reshape", [y, g.ints("shape", [0, 0, D * H])], "y")
        finals_h.append(outs[1])
        if kind == "lstm":
            finals_c.append(outs[2])
    h_T = g.op("Concat", finals_h, "h_T", axis=0)
    c_T = g.op("Concat", finals_c, "c_T", axis=0) if kind == "lstm" else None
    return x, h_T, c_T


def _dense(g: Graph, x: str, layer) -> str:
    return g.op("Add", [g.op("MatMul", [x, g.constant("W", layer.params["W"])]), g.constant("b", layer.params["b"])])


def _batch_first(g: Graph, x: str) -> str:
    return g.op("Transpose", [x], perm=[1, 0, 2])


def _state_inputs(g: Graph, layer: Recurrent, spec: dict):
    rows = layer.num_layers * layer.num_directions
    h0 = g.input("state_h", FLOAT, [rows, "batch", layer.hidden_size])
    spec["inputs"]["state_h"] = f"({rows}, batch, {layer.hidden_size}) float32: initial h of each layer and " \
                                "direction (PyTorch's order), zeros to start"
    c0 = None
    if isinstance(layer, LSTM):
        c0 = g.input("state_c", FLOAT, [rows, "batch", layer.hidden_size])
        spec["inputs"]["state_c"] = f"({rows}, batch, {layer.hidden_size}) float32: initial c, zeros to start"
    return h0, c0


def _state_outputs(g: Graph, layer: Recurrent, h_T: str, c_T, spec: dict) -> None:
    rows = layer.num_layers * layer.num_directions
    g.output(h_T, "final_h", FLOAT, [rows, "batch", layer.hidden_size])
    spec["outputs"]["final_h"] = "h after each sequence's last valid step (feed back as state_h to continue)"
    if c_T is not None:
        g.output(c_T, "final_c", FLOAT, [rows, "batch", layer.hidden_size])
        spec["outputs"]["final_c"] = "c after each sequence's last valid step"


def _sequence_inputs(g: Graph, embedding, spec: dict, features: int | None = None):
    """Inputs ids (through ``embedding``) or ``features`` wide floats, and lengths;
    returns (x time-major (T, B, F), lengths as int32)."""
    if embedding is not None:
        ids = g.input("ids", INT64, ["batch", "time"])
        spec["inputs"]["ids"] = "(batch, time) int64 token ids, right-padded"
        x = g.op("Gather", [g.constant("E", embedding.params["W"]), ids], "embedded")
    else:
        x = g.input("x", FLOAT, ["batch", "time", features])
        spec["inputs"]["x"] = f"(batch, time, {features}) float32 inputs, right-padded"
    lengths = g.input("lengths", INT64, ["batch"])
    spec["inputs"]["lengths"] = "(batch,) int64 valid steps of each sequence (all of them when not padded)"
    return _batch_first(g, x), g.op("Cast", [lengths], "lengths32", to=INT32)


def _language_model(g: Graph, model: LanguageModel, spec: dict) -> None:
    x, lengths = _sequence_inputs(g, model.embedding, spec)
    if model.label_embedding is not None:
        labels = g.input("labels", INT64, ["batch"])
        spec["inputs"]["labels"] = "(batch,) int64 the label that conditions each sequence"
        c = g.op("Unsqueeze", [g.op("Gather", [g.constant("C", model.label_embedding.params["W"]), labels]),
                               g.ints("axis", [0])])  # (1, B, C)
        size = model.label_embedding.embedding_dim
        shape = g.op("Concat", [g.op("Slice", [g.op("Shape", [x]), g.ints("at", [0]),
                                               g.ints("at", [2])]),
                                g.ints("size", [size])], axis=0)
        x = g.op("Concat", [x, g.op("Expand", [c, shape])], "inputs", axis=2)
    h0, c0 = _state_inputs(g, model.rnn, spec)
    y, h_T, c_T = recurrent(g, model.rnn, x, lengths, h0, c0)
    V = model.head.out_features
    g.output(_dense(g, _batch_first(g, y), model.head), "logits", FLOAT, ["batch", "time", V])
    spec["outputs"]["logits"] = f"(batch, time, {V}) next-token logits: softmax gives p(token<t+1> | tokens<1..t>)"
    _state_outputs(g, model.rnn, h_T, c_T, spec)


def _valid_steps(g: Graph, y: str, lengths: str) -> str:
    """(B, T, 1) booleans: step t of sequence b is valid (t < length)."""
    T = g.op("Gather", [g.op("Shape", [y]), g.ints("at", 1)])
    steps = g.op("Range", [g.ints("zero", 0), T, g.ints("one", 1)])
    lengths64 = g.op("Cast", [lengths], to=INT64)
    return g.op("Unsqueeze", [g.op("Less", [g.op("Unsqueeze", [steps, g.ints("axis", [0])]),
                                            g.op("Unsqueeze", [lengths64, g.ints("axis", [1])])]),
                              g.ints("axis", [2])], "valid")


def _classifier(g: Graph, model: SequenceClassifier, spec: dict) -> None:
    x, lengths = _sequence_inputs(g, model.embedding, spec, model.config["input_size"])
    layer = model.rnn
    h0, c0 = _state_inputs(g, layer, spec)
    y, h_T, _ = recurrent(g, layer, x, lengths, h0, c0)
    D, H = layer.num_directions, layer.hidden_size
    mode = model.pool.mode
    if mode == "last":  # the top layer's final states: the forward direction's last valid step, the reverse's first
        top = g.op("Slice", [h_T, g.ints("rows", [(layer.num_layers - 1) * D]),
                             g.ints("rows", [layer.num_layers * D])])
        v = g.op("Reshape", [_batch_first(g, top), g.ints("shape", [0, D * H])], "pooled")
    else:
        yb = _batch_first(g, y)  # (B, T, D*H), zeros at padded steps
        valid = _valid_steps(g, yb, lengths)
        if mode == "mean":
            total = g.op("ReduceSum", [yb, g.ints("axis", [1])], keepdims=0)
            count = g.op("Unsqueeze", [g.op("Cast", [lengths], to=FLOAT), g.ints("axis", [1])])
            v = g.op("Div", [total, count], "pooled")
        else:
            masked = g.op("Where", [valid, yb, g.constant("minus_inf", -np.inf)])
            v = g.op("ReduceMax", [masked, g.ints("axis", [1])], "pooled", keepdims=0)
    K = model.head.out_features
    g.output(_dense(g, v, model.head), "logits", FLOAT, ["batch", K])
    spec["outputs"]["logits"] = f"(batch, {K}) class logits (a regressor's output when there is one)"


def _tagger(g: Graph, model: SequenceTagger, spec: dict) -> None:
    x, lengths = _sequence_inputs(g, model.embedding, spec)
    h0, c0 = _state_inputs(g, model.rnn, spec)
    y, _, _ = recurrent(g, model.rnn, x, lengths, h0, c0)
    K = model.head.out_features
    g.output(_dense(g, _batch_first(g, y), model.head), "logits", FLOAT, ["batch", "time", K])
    spec["outputs"]["logits"] = f"(batch, time, {K}) tag logits at every step"


def _piano_roll(g: Graph, model: PianoRollModel, spec: dict) -> None:
    K = model.config["num_keys"]
    x, lengths = _sequence_inputs(g, None, spec, K)
    spec["inputs"]["x"] = f"(batch, time, {K}) float32 frames, 1 where a key sounds; each the frame before its target"
    h0, c0 = _state_inputs(g, model.rnn, spec)
    y, h_T, c_T = recurrent(g, model.rnn, x, lengths, h0, c0)
    g.output(_dense(g, _batch_first(g, y), model.head), "logits", FLOAT, ["batch", "time", K])
    spec["outputs"]["logits"] = f"(batch, time, {K}) per-key logits of the next frame: sigmoid gives p(key sounds)"
    _state_outputs(g, model.rnn, h_T, c_T, spec)


def _encoder(g: Graph, model: Seq2Seq, spec: dict) -> None:
    lay, c = model.layers, model.config
    D, L, H = 2 if c["bidirectional"] else 1, c["num_layers"], c["hidden_size"]
    x, lengths = _sequence_inputs(g, lay["source_embedding"], spec)
    zeros = g.op("ConstantOfShape", [g.op("Concat", [g.ints("rows", [L * D]),
                                                     g.op("Slice", [g.op("Shape", [x]), g.ints("at", [1]),
                                                                    g.ints("at", [2])]),
                                                     g.ints("size", [H])], axis=0)],
                 value=g.onnx.numpy_helper.from_array(np.zeros(1, np.float32)))
    encoder = lay["encoder"]
    y, h_T, _ = recurrent(g, encoder, x, lengths, zeros, zeros if isinstance(encoder, LSTM) else None)
    g.output(_batch_first(g, y), "memory", FLOAT, ["batch", "source_time", D * H])
    spec["outputs"]["memory"] = f"(batch, source_time, {D * H}) the encoder's outputs, for the decoder's attention"
    top = g.op("Slice", [h_T, g.ints("rows", [(L - 1) * D]), g.ints("rows", [L * D])])
    top = g.op("Reshape", [_batch_first(g, top), g.ints("shape", [0, D * H])])
    s0 = g.op("Tanh", [_dense(g, top, lay["bridge"])])
    s0 = _batch_first(g, g.op("Reshape", [s0, g.ints("shape", [0, L, H])]))
    g.output(s0, "state_h", FLOAT, [L, "batch", H])
    spec["outputs"]["state_h"] = f"({L}, batch, {H}) the decoder's first h (the bridge); an LSTM decoder's first c is zeros"


def _decoder_step(g: Graph, model: Seq2Seq, spec: dict) -> None:
    lay, c = model.layers, model.config
    D, H = 2 if c["bidirectional"] else 1, c["hidden_size"]
    ids = g.input("ids", INT64, ["batch"])
    spec["inputs"]["ids"] = "(batch,) int64 the previous target token (<EOS> first)"
    decoder = lay["decoder"]
    h0, c0 = _state_inputs(g, decoder, spec)
    memory = g.input("memory", FLOAT, ["batch", "source_time", D * H])
    spec["inputs"]["memory"] = "the encoder's memory output"
    lengths = g.input("source_lengths", INT64, ["batch"])
    spec["inputs"]["source_lengths"] = "(batch,) int64 valid steps of each source"
    x = g.op("Unsqueeze", [g.op("Gather", [g.constant("E", lay["target_embedding"].params["W"]), ids]),
                           g.ints("axis", [0])])  # (1, B, E)
    y, h_T, c_T = recurrent(g, decoder, x, "", h0, c0)
    s = g.op("Squeeze", [y, g.ints("axis", [0])], "s")  # (B, H)
    if "attention" in lay:
        p = lay["attention"].params
        q = g.op("Add", [g.op("MatMul", [s, g.constant("W_q", p["W_q"])]), g.constant("b", p["b"])])
        keys = g.op("MatMul", [memory, g.constant("W_k", p["W_k"])])  # (B, Tx, A)
        u = g.op("Tanh", [g.op("Add", [keys, g.op("Unsqueeze", [q, g.ints("axis", [1])])])])
        e = g.op("MatMul", [u, g.constant("v", p["v"])], "scores")  # (B, Tx)
        valid = g.op("Squeeze", [_valid_steps(g, memory, lengths), g.ints("axis", [2])])
        alpha = g.op("Softmax", [g.op("Where", [valid, e, g.constant("minus_inf", -np.inf)])], "alpha", axis=-1)
        context = g.op("MatMul", [g.op("Unsqueeze", [alpha, g.ints("axis", [1])]), memory])
        context = g.op("Squeeze", [context, g.ints("axis", [1])])
        s = g.op("Concat", [s, context], axis=1)
        g.output(alpha, "attention", FLOAT, ["batch", "source_time"])
        spec["outputs"]["attention"] = "(batch, source_time) the attention weights of this step"
    V = lay["head"].out_features
    g.output(_dense(g, s, lay["head"]), "logits", FLOAT, ["batch", V])
    spec["outputs"]["logits"] = f"(batch, {V}) logits of the next target token"
    _state_outputs(g, decoder, h_T, c_T, spec)


def _layer(g: Graph, layer: Recurrent, spec: dict) -> None:
    x, lengths = _sequence_inputs(g, None, spec, layer.input_size)
    h0, c0 = _state_inputs(g, layer, spec)
    y, h_T, c_T = recurrent(g, layer, x, lengths, h0, c0)
    width = layer.num_directions * layer.hidden_size
    g.output(_batch_first(g, y), "y", FLOAT, ["batch", "time", width])
    spec["outputs"]["y"] = f"(batch, time, {width}) outputs of the top layer (directions side by side), zero when padded"
    _state_outputs(g, layer, h_T, c_T, spec)


def _layer_config(layer: Recurrent) -> dict:
    cell = layer.cell
    return {"cell": _cell_kind(layer), "input_size": layer.input_size, "hidden_size": layer.hidden_size,
            "num_layers": layer.num_layers, "bidirectional": layer.num_directions == 2,
            **{name: getattr(cell, name) for name in ("nonlinearity", "reset_after", "peephole") if hasattr(cell, name)}}


KINDS = [(Recurrent, "recurrent_layer", _layer), (LanguageModel, "language_model", _language_model), (SequenceClassifier, "classifier", _classifier),
         (SequenceTagger, "tagger", _tagger), (PianoRollModel, "piano_roll", _piano_roll)]


def export(model, path, metadata: dict | None = None) -> list[pathlib.Path]:
    """Write ``model`` (any of rnnkit's models, or a bare RNN, GRU or LSTM layer) as ONNX to ``path`` and
    return the files written (two for a ``Seq2Seq``).

    ``metadata`` (names -> JSON-serialisable values) joins the file's ``metadata_props`` under
    ``rnnkit.<name>``. Every graph is checked with ``onnx.checker`` before it is written.
    """
    path = pathlib.Path(path)
    extra = {f"rnnkit.{key}": value for key, value in (metadata or {}).items()}
    builders = [(path, kind, build) for cls, kind, build in KINDS if isinstance(model, cls)]
    if isinstance(model, Seq2Seq):
        stem = path.with_suffix("")
        builders = [(pathlib.Path(f"{stem}-encoder.onnx"), "encoder", _encoder),
                    (pathlib.Path(f"{stem}-decoder-step.onnx"), "decoder_step", _decoder_step)]
    if not builders:
        raise TypeError(f"model must be one of rnnkit's models or recurrent layers, got {type(model).__name__}")
    config = _layer_config(model) if isinstance(model, Recurrent) else model.config
    for target, kind, build in builders:
        g, spec = Graph(), {"inputs": {}, "outputs": {}}
        build(g, model, spec)
        g.save(target, f"rnnkit_{kind}", {"rnnkit.kind": kind, "rnnkit.inputs": spec["inputs"],
                                         "rnnkit.outputs": spec["outputs"], "rnnkit.config": config, **extra})
    return [target for target, _, _ in builders]
