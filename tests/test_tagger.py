"""SequenceTagger: float64 central differences (every cell, uni/bidirectional, ragged masks); spans and
their F1 by hand; the spaces data and CoNLL files; the most-frequent-tag baseline."""

import itertools
import zlib

import numpy as np
import pytest

from helpers import numeric_gradient, ragged_mask, relative_error
from rnnkit.baselines import MostFrequentTag
from rnnkit.data import CorpusError
from rnnkit.data.tagged import boundary_tags, load_tagged
from rnnkit.metrics import span_scores, spans
from rnnkit.models.tagger import SequenceTagger
from rnnkit.tasks.tag import segment

B, T, V, K = 3, 6, 7, 4


@pytest.mark.parametrize("cell,bidirectional,layers",
                         list(itertools.product(("rnn", "gru", "lstm"), (False, True), (1, 2))))
def test_tagger_gradients_match_central_differences(cell, bidirectional, layers):
    rng = np.random.default_rng(zlib.crc32(repr((cell, bidirectional, layers)).encode()))
    model = SequenceTagger(V, K, cell, hidden_size=4, num_layers=layers, bidirectional=bidirectional, embed_size=3,
                           dtype=np.float64, seed=0)
    for value in model.params.values():
        value[...] = rng.uniform(-0.5, 0.5, size=value.shape)
    x, mask = rng.integers(0, V, (B, T)), ragged_mask(rng, B, T)
    dlogits = rng.standard_normal((B, T, K)) * mask[..., None]  # the masked loss sends nothing to padding

    def loss():
        return np.sum(model.forward(x, mask, training=False) * dlogits)

    model.zero_grad()
    model.forward(x, mask)
    model.backward(dlogits)
    for name, value in model.params.items():
        assert relative_error(model.grads[name], numeric_gradient(loss, value)) <= 1e-6, name


def test_a_bidirectional_tagger_sees_the_right_context_and_a_unidirectional_one_does_not():
    model = SequenceTagger(V, K, "gru", hidden_size=5, bidirectional=True, dtype=np.float64, seed=1)
    one_way = SequenceTagger(V, K, "gru", hidden_size=5, bidirectional=False, dtype=np.float64, seed=1)
    x = np.array([[1, 2, 3, 4]])
    changed = x.copy()
    changed[0, 3] = 5  # only the last token differs
    for m, sees_right in ((model, True), (one_way, False)):
        first = m.forward(x, training=False)[0, 0], m.forward(changed, training=False)[0, 0]
        assert (not np.allclose(*first)) == sees_right


def test_spans_by_hand():
    assert spans(["B", "I", "B", "B", "I", "I"]) == {(0, 2, ""), (2, 3, ""), (3, 6, "")}
    assert spans(["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "I-PER"]) == {
        (0, 2, "PER"), (3, 5, "LOC"), (5, 6, "LOC"), (6, 7, "PER")}
    scores = span_scores([["B", "I", "B", "I"]], [["B", "I", "I", "I"]])
    assert scores == {"span_precision": 0.0, "span_recall": 0.0, "f1": 0.0}
    scores = span_scores([["B", "I", "B", "I"]], [["B", "I", "B", "B"]])
    assert scores["span_precision"] == pytest.approx(1 / 3) and scores["span_recall"] == pytest.approx(1 / 2)
    assert scores["f1"] == pytest.approx(0.4)


def test_spaces_is_prose_without_spaces_tagged_at_word_starts():
    data = load_tagged("spaces")
    assert len(data.tokens) > 2000 and data == load_tagged("spaces")
    for tokens, tags in zip(data.tokens, data.tags):
        assert len(tokens) == len(tags) <= 100 and tags[0] == "B" and " " not in tokens
    assert segment(*boundary_tags(["the", "quick", "fox"])) == "the quick fox"
    parts = data.split()
    assert sum(len(p[0]) for p in parts.values()) == len(data.tokens)


def write(tmp_path, text):
    path = tmp_path / "tags.conll"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_conll_files_are_read_as_sequences(tmp_path):
    path = write(tmp_path, "Harry\tB-PER\nPotter\tI-PER\nwaved\tO\n\n\nHermione\tB-PER\n\nran\tO\n")
    data = load_tagged(path)
    assert data.tokens == [["Harry", "Potter", "waved"], ["Hermione"], ["ran"]]
    assert data.tags == [["B-PER", "I-PER", "O"], ["B-PER"], ["O"]]


@pytest.mark.parametrize(
    "text,level,message",
    [("a\tB\nno tab\n\nb\tI\n\nc\tI\n", "word", ":2: expected token<TAB>tag"),
     ("a\tB\nb\t\n\nc\tI\n\nd\tI\n", "word", ":2: the token 'b' has no tag"),
     ("ab\tB\n\nc\tI\n\nd\tI\n", "char", ":1: --level char takes one character per line, got 'ab'"),
     ("a\tB\n\nb\tB\n\nc\tB\n", "word", "has one tag only ('B')"),
     ("a\tB\n\nb\tI\n", "word", "has 2 sequences")],
)
def test_bad_conll_files_are_refused_naming_the_line(tmp_path, text, level, message):
    with pytest.raises(CorpusError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_tagged(write(tmp_path, text), level)


def test_most_frequent_tag_uses_the_previous_token_and_backs_off():
    baseline = MostFrequentTag([["t", "h", "e", "t", "o"], ["t", "o"]], [list("BIIBI"), list("BI")])
    assert baseline.predict(["t", "h", "e"]) == ["B", "I", "I"]
    assert baseline.predict(["x", "o", "t"]) == ["I", "I", "B"]  # x never seen: the overall most frequent tag, I
