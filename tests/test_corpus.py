"""Corpora: built-ins load offline, the split is deterministic, bad files are refused by name."""

import pytest

from rnnkit.data import CorpusError, LineBatches, StreamBatches, load_corpus
from rnnkit.data.batching import pad


def test_names_are_a_deduplicated_line_corpus_with_a_fixed_split():
    corpus = load_corpus("names")
    lines = corpus.lines
    assert corpus.mode == "lines" and len(lines) > 10_000 and len(set(lines)) == len(lines)
    train, valid = corpus.split("lines")
    assert not set(train) & set(valid) and len(valid) == len(lines) // 10
    assert (train, valid) == load_corpus("names").split("lines")


def test_python_source_is_a_multi_megabyte_stream():
    corpus = load_corpus("python-source")
    assert corpus.mode == "stream" and len(corpus.text) > 2_000_000 and "def " in corpus.text


def test_directories_are_read_in_sorted_order(tmp_path):
    (tmp_path / "b.txt").write_text("second\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("first\n", encoding="utf-8")
    assert load_corpus(str(tmp_path)).text == "first\nsecond\n"


@pytest.mark.parametrize(
    "content,message",
    [(b"", "no text in it"), (b"ab\0cd", "is a binary file"), (b"caf\xe9", "is not UTF-8 text")],
)
def test_bad_files_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        load_corpus(str(path))


def test_missing_path_names_the_built_ins(tmp_path):
    with pytest.raises(CorpusError, match="no such file or directory .built-ins: names, python-source"):
        load_corpus(str(tmp_path / "nope.txt"))


def test_line_batches_frame_each_line_with_eos_and_pad():
    x, y, mask = pad([[1, 5, 6], [1, 7]], [[5, 6, 1], [7, 1]], 0)
    assert x.tolist() == [[1, 5, 6], [1, 7, 0]] and y.tolist() == [[5, 6, 1], [7, 1, 0]]
    assert mask.tolist() == [[True] * 3, [True, True, False]]
    batches = LineBatches([[5, 6], [7], [8, 9, 10]], batch_size=2, seq_len=8, eos=1, pad=0, seed=3)
    assert batches.batches_per_epoch == 2
    seen = []
    for index in range(2):
        _, y, mask = batches.batch(0, index)
        seen += [tuple(row[keep]) for row, keep in zip(y, mask)]
    assert sorted(seen) == [(5, 6, 1), (7, 1), (8, 9, 10, 1)]
    assert batches.batch(1, 0)[0].tolist() == LineBatches(
        [[5, 6], [7], [8, 9, 10]], 2, 8, 1, 0, seed=3).batch(1, 0)[0].tolist()


def test_stream_batches_are_parallel_streams_of_next_tokens():
    batches = StreamBatches(list(range(20)), batch_size=2, seq_len=4)
    x, y, mask = batches.batch(0, 1)
    assert x.tolist() == [[4, 5, 6, 7], [14, 15, 16, 17]] and y.tolist() == [[5, 6, 7, 8], [15, 16, 17, 18]]
    assert mask is None and batches.batches_per_epoch == 2
    with pytest.raises(ValueError, match="too short for --batch-size 4 streams of --seq-len 8"):
        StreamBatches(list(range(20)), batch_size=4, seq_len=8)
