"""Labelled data: names-origin loads offline with unambiguous labels; TSV files are read or refused by line;
splits are stratified and fixed; labelled batches pad, mask and reshuffle by (seed, epoch)."""

from collections import Counter

import numpy as np
import pytest

from rnnkit.data import CorpusError
from rnnkit.data.batching import LabelledBatches
from rnnkit.data.corpus import _is_latin_name
from rnnkit.data.labelled import load_labelled


def test_names_origin_has_about_twenty_latin_labels_and_no_name_under_two():
    data = load_labelled("names-origin")
    counts = Counter(data.labels)
    assert 15 <= len(counts) <= 20 and min(counts.values()) >= 50 and len(data.texts) > 10_000
    assert len(set(data.texts)) == len(data.texts) and data.dropped > 0
    assert all(_is_latin_name(text) for text in data.texts)


def test_the_split_is_stratified_disjoint_and_fixed():
    data = load_labelled("names-origin")
    parts = data.split()
    assert parts == load_labelled("names-origin").split()
    train, valid, test = (set(parts[p][0]) for p in ("train", "valid", "test"))
    assert not train & valid and not train & test and not valid & test
    assert len(train) + len(valid) + len(test) == len(data.texts)
    everywhere, in_test = Counter(data.labels), Counter(parts["test"][1])
    for label, n in everywhere.items():
        assert in_test[label] == int(n * 0.1), label


def write(tmp_path, text):
    path = tmp_path / "data.tsv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_tsv_file_is_read_with_tabs_inside_the_text(tmp_path):
    data = load_labelled(write(tmp_path, "good film\tpos\n\nbad\tfilm\tneg\n  awful \t neg \n"))
    assert data.texts == ["good film", "bad\tfilm", "  awful "] and data.labels == ["pos", "neg", "neg"]


@pytest.mark.parametrize(
    "text,message",
    [("good\tpos\nno tab here\n", ":2: expected text<TAB>label, got a line without a tab"),
     ("good\tpos\nbad\t  \n", ":2: empty label"), ("\tpos\nbad\tneg\n", ":1: empty text"),
     ("a\tpos\nb\tpos\n", "has one class only ('pos')"), ("\n\n", "no text<TAB>label lines")],
)
def test_bad_tsv_files_are_refused_naming_the_line(tmp_path, text, message):
    with pytest.raises(CorpusError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_labelled(write(tmp_path, text))


def test_labelled_batches_cut_pad_mask_and_reshuffle_by_epoch():
    sequences = [np.arange(1, n + 1) for n in (3, 1, 7, 2, 5)]
    batches = LabelledBatches(sequences, [0, 1, 0, 1, 1], batch_size=2, seq_len=4, pad=0, seed=3)
    assert batches.batches_per_epoch == 3
    seen = [batches.batch(0, i) for i in range(3)]
    assert sorted(int(y) for _, _, ys in seen for y in ys) == [0, 0, 1, 1, 1]
    for x, mask, _ in seen:
        assert mask.shape == x.shape and x.shape[1] <= 4 and not x[~mask].any() and mask[:, 0].all()
    x, mask, y = next(batches.in_order())
    np.testing.assert_array_equal(x, [[1, 2, 3], [1, 0, 0]])
    np.testing.assert_array_equal(y, [0, 1])
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(seen, (batches.batch(0, i) for i in range(3))))
    assert any(not np.array_equal(batches.batch(0, i)[2], batches.batch(1, i)[2]) for i in range(3))
