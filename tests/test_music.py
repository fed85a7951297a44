"""Music data: both encodings round-trip on real corpus scores and by hand; folders skip what is not music and
cache what is; the piano-roll model's gradients match central differences; novelty and distance by hand."""

import itertools
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
from music21 import chord, corpus, key, meter, note, stream

from helpers import numeric_gradient, ragged_mask, relative_error
from rnnkit.data import Vocabulary
from rnnkit.data import music as music_data
from rnnkit.data.batching import FrameBatches
from rnnkit.data.music import load_music
from rnnkit.data.music_encodings import events_to_score, melody_events, piano_roll, roll_to_score
from rnnkit.metrics import longest_shared_runs, total_variation
from rnnkit.models.piano_roll import PianoRollModel
from rnnkit.tasks.music import distributions, per_key_frequency_nll, sample_frames


@pytest.fixture(scope="module")
def chorale():
    return corpus.parse("bach/bwv269")


@pytest.fixture(scope="module")
def folk_tune():
    return corpus.parse("oneills1850/0001-0050.abc").scores[3]


def melody_notes(score):
    """(pitch, offset, duration) of the first part's notes, graces left out: what a listener hears on top."""
    part = score.parts[0]
    return [(n.pitch.nameWithOctave, Fraction(n.offset), Fraction(n.quarterLength))
            for n in part.flatten().notes if n.quarterLength > 0]


@pytest.mark.parametrize("which", ["chorale", "folk_tune"])
def test_events_decode_to_the_same_notes_and_durations(which, request):
    score = request.getfixturevalue(which)
    tokens = melody_events(score)
    decoded = events_to_score(tokens)
    assert melody_events(decoded) == tokens
    assert melody_notes(decoded) == melody_notes(score)
    assert tokens[0].startswith("key=") and tokens[1].startswith("meter=") and "|" in tokens


@pytest.mark.parametrize("grid", [1.0, 0.5, 0.25])
def test_piano_roll_decodes_to_the_same_frames(chorale, grid):
    frames = piano_roll(chorale, grid)
    assert frames.shape == (int(chorale.highestTime / grid), 88)
    assert frames[0].sum() == 4  # four voices start together
    np.testing.assert_array_equal(piano_roll(roll_to_score(frames, grid), grid), frames)


def test_piano_roll_by_hand():
    part = stream.Part()
    part.insert(0, note.Note("C4", quarterLength=1.5))
    part.insert(0.5, note.Note("E4", quarterLength=0.5))
    part.insert(2.0, chord.Chord(["G4", "B4"], quarterLength=0.25))  # sounds at no frame start but one
    part.insert(2.75, note.Rest(quarterLength=1.25))
    frames = piano_roll(part, 0.5)
    expected = np.zeros((8, 88), bool)
    expected[0:3, 60 - 21] = True
    expected[1, 64 - 21] = True
    expected[4, [67 - 21, 71 - 21]] = True
    np.testing.assert_array_equal(frames, expected)


def test_melody_takes_the_top_of_a_chord_skips_graces_and_second_voices_and_fills_gaps():
    part = stream.Part()
    m1, m2 = stream.Measure(number=1), stream.Measure(number=2)
    m1.insert(0, key.Key("D"))
    m1.insert(0, meter.TimeSignature("2/4"))
    m1.insert(0, chord.Chord(["D4", "A4"], quarterLength=1))
    m1.insert(0.5, note.Note("B4", quarterLength=0.5))  # starts under the chord: a second voice
    m1.insert(1, note.Note("C#5").getGrace())
    m1.insert(1, note.Note("D5", quarterLength=0.5))
    m2.insert(0.5, note.Note("F#4", quarterLength=Fraction(1, 3)))  # after a gap, a triplet eighth
    part.insert(0, m1)
    part.insert(2, m2)
    assert melody_events(part) == ["key=D:major", "meter=2/4", "A4_1", "D5_1/2", "R_1", "|", "F#4_1/3"]


def test_a_pickup_bar_stays_a_pickup():
    tokens = ["key=G:major", "meter=3/4", "D4_1", "|", "G4_3", "|", "B4_3"]
    score = events_to_score(tokens)
    first = score.parts[0].getElementsByClass(stream.Measure).first()
    assert first.paddingLeft == 2.0 and melody_events(score) == tokens


def write_midi(folder, name, pitches):
    part = stream.Part([note.Note(p, quarterLength=1) for p in pitches])
    part.write("midi", fp=str(folder / name))


def test_a_folder_skips_and_counts_what_is_not_music_then_reads_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    write_midi(folder, "a.mid", ["C4", "E4", "G4"])
    write_midi(folder / "sub", "b.mid", ["A4", "F4"])
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06 not really midi")
    (folder / "letter.xml").write_text("<letter><to>you</to></letter>", encoding="utf-8")
    (folder / "readme.txt").write_text("not a music file at all", encoding="utf-8")  # not even looked at
    corpus_ = load_music(str(folder), "events", progress=False)
    assert (len(corpus_.pieces), corpus_.skipped) == (2, 2)
    assert [t for t in corpus_.pieces[0] if "_" in t] == ["C4_1", "E4_1", "G4_1", "R_1"]  # music21 fills the bar
    assert "2 skipped" in corpus_.summary()
    assert list((tmp_path / "cache" / "music").glob("mine-events-*.json"))

    def no_parsing(*args, **kwargs):
        raise AssertionError("the cached corpus was parsed again")

    monkeypatch.setattr(music_data, "ProcessPoolExecutor", no_parsing)
    again = load_music(str(folder), "events", progress=False)
    assert again.pieces == corpus_.pieces and again.skipped == 2


def test_folders_without_music_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="is not chorales, folk, or a folder"):
        load_music(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no music files"):
        load_music(str(tmp_path / "empty"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.mid").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="none of its 1 files could be read as music"):
        load_music(str(tmp_path / "bad"), progress=False)
    with pytest.raises(ValueError, match="--encoding must be one of events, pianoroll"):
        load_music("folk", "abc")


def test_symbol_vocabulary_round_trips_and_names_unknown_tokens():
    vocab = Vocabulary.build(["key=G:major G4_1 | A4_1/2", "G4_1 R_1"], "symbol")
    assert vocab.itos[2] == "G4_1"  # the most frequent first
    ids = vocab.encode("G4_1 | A4_1/2")
    assert vocab.decode(ids) == "G4_1 | A4_1/2"
    assert vocab.joined("G4_1", "", "R_1") == "G4_1 R_1"
    with pytest.raises(ValueError, match="tokens the model never saw: Z9_7"):
        vocab.encode("G4_1 Z9_7")


def test_longest_shared_runs_and_total_variation_by_hand():
    training = [list("abcdefg"), list("xyz")]
    assert longest_shared_runs([list("qcdez"), list("qqq"), list("abcdefg"), list("zyx")], training) == [3, 0, 7, 1]
    assert total_variation(Counter(a=1, b=1), Counter(a=1, b=1)) == 0
    assert total_variation(Counter(a=3, b=1), Counter(b=2, c=2)) == pytest.approx(0.5 * (0.75 + 0.25 + 0.5))
    pitches, lengths = distributions([["key=C:major", "C4_1", "B-3_1/2", "R_1/2", "|", "F#5_1"]])
    assert pitches == Counter({0: 1, 10: 1, 6: 1}) and lengths == Counter({Fraction(1): 2, Fraction(1, 2): 2})


def test_per_key_frequency_baseline_by_hand():
    train = [np.array([[1, 0], [1, 1]], bool), np.array([[0, 0]], bool)]  # key 0 on 2/3, key 1 on 1/3
    test = [np.array([[1, 1]], bool)]
    p0, p1 = (2 + 0.5) / 4, (1 + 0.5) / 4
    assert per_key_frequency_nll(train, test) == pytest.approx(-np.log(p0) - np.log(p1))


def test_frame_batches_feed_the_previous_frame_and_cover_every_frame_once():
    rng = np.random.default_rng(0)
    rolls = [rng.random((n, 5)) < 0.3 for n in (7, 3, 10)]
    windows = FrameBatches(rolls, batch_size=2, seq_len=4, seed=1)
    seen = []
    for x, y, mask in windows.in_order():
        for b in range(len(x)):
            seen.append(y[b][mask[b]])
            np.testing.assert_array_equal(x[b, 1:][mask[b, 1:]], y[b, :-1][mask[b, 1:]])
    assert sum(len(s) for s in seen) == 20
    whole = list(FrameBatches(rolls, batch_size=3, seq_len=None).in_order())[0]
    x, y, mask = whole
    np.testing.assert_array_equal(y[2], rolls[2])
    assert not x[:, 0].any() and mask.sum() == 20


@pytest.mark.parametrize("cell,layers", list(itertools.product(("rnn", "gru", "lstm"), (1, 2))))
def test_piano_roll_model_gradients_match_central_differences(cell, layers):
    rng = np.random.default_rng(layers * 10 + len(cell))
    model = PianoRollModel(6, cell, hidden_size=4, num_layers=layers, dtype=np.float64, seed=0)
    for value in model.params.values():
        value[...] = rng.uniform(-0.5, 0.5, size=value.shape)
    frames = rng.random((3, 5, 6)) < 0.4
    x, y, mask = frames[:, :-1].astype(float), frames[:, 1:], ragged_mask(rng, 3, 4)
    weights = rng.standard_normal((3, 4, 6))

    def loss():
        logits, _ = model.forward(x, None, mask, training=False)
        return model.loss(logits, y, mask)[0] + np.sum(logits * weights * mask[..., None])

    model.zero_grad()
    logits, _ = model.forward(x, None, mask)
    model.backward(model.loss(logits, y, mask)[1] + weights * mask[..., None])
    for name, value in model.params.items():
        assert relative_error(model.grads[name], numeric_gradient(loss, value)) <= 1e-6, name


def test_piano_roll_loss_is_nats_per_frame():
    model = PianoRollModel(3, "gru", hidden_size=4, dtype=np.float64, seed=0)
    logits = np.array([[[0.0, 2.0, -1.0]]])
    y = np.array([[[1, 0, 0]]], bool)
    expected = np.log(2) + np.log1p(np.exp(2.0)) + np.log1p(np.exp(-1.0))
    assert model.loss(logits, y, np.ones((1, 1), bool))[0] == pytest.approx(expected)


def test_sampled_rolls_begin_with_the_prime_and_greedy_is_deterministic():
    model = PianoRollModel(88, "lstm", hidden_size=8, seed=0)
    prime = np.zeros((3, 88), bool)
    prime[:, 60 - 21] = True
    rolls = sample_frames(model, 2, 5, np.random.default_rng(0), prime=prime)
    assert all(r.shape == (8, 88) and (r[:3] == prime).all() for r in rolls)
    a, b = (sample_frames(model, 1, 5, np.random.default_rng(seed), temperature=0)[0] for seed in (1, 2))
    np.testing.assert_array_equal(a, b)


def test_a_piano_roll_step_is_its_forward_one_frame_at_a_time():
    model = PianoRollModel(num_keys=6, cell="gru", hidden_size=5, num_layers=2, dtype=np.float64, seed=0)
    frames = (np.random.default_rng(0).random((2, 5, 6)) < 0.3).astype(np.float64)
    logits, _ = model.forward(frames, training=False)
    state = None
    for t in range(frames.shape[1]):
        step, state = model.step(frames[:, t], state)
        np.testing.assert_allclose(step, logits[:, t], rtol=1e-12, atol=1e-14)
