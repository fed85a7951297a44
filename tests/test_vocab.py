"""Vocabularies: exact round trips (hypothesis), <UNK> at word level, named unknown characters at char level."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnkit.data import EOS, PAD, UNK, Vocabulary


@given(st.text(min_size=1))
def test_char_round_trip_is_exact(text):
    vocab = Vocabulary.build([text], "char")
    assert vocab.decode(vocab.encode(text)) == text


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1))
def test_word_round_trip_is_exact(text):
    vocab = Vocabulary.build([text], "word")
    assert vocab.decode(vocab.encode(text)) == text


@given(st.lists(st.text(min_size=1), min_size=1))
def test_json_round_trip_keeps_every_id(texts):
    vocab = Vocabulary.build(texts, "word")
    again = Vocabulary.from_json(vocab.to_json())
    assert again.itos == vocab.itos and again.level == vocab.level


def test_specials_and_unknown_words():
    vocab = Vocabulary.build(["the cat sat", "the dog"], "word", min_freq=2)
    assert vocab.itos[:3] == [PAD, EOS, UNK]
    assert vocab.decode(vocab.encode("the cow")) == f"the {UNK}"


def test_max_size_keeps_the_most_frequent():
    vocab = Vocabulary.build(["a a a b b c"], "word", max_size=2)
    assert vocab.itos[3:] == [" ", "a"]  # five spaces, three a


def test_unknown_characters_are_named():
    vocab = Vocabulary.build(["abc"], "char")
    assert UNK not in vocab.itos
    with pytest.raises(ValueError, match="characters the model never saw: 'xz'"):
        vocab.encode("zax")


def test_bad_arguments():
    with pytest.raises(ValueError, match="level must be one of 'char', 'word', 'symbol', got 'byte'"):
        Vocabulary.build(["a"], "byte")
    with pytest.raises(ValueError, match="min_freq must be a positive int, got 0"):
        Vocabulary.build(["a"], "word", min_freq=0)
