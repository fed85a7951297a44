"""The music task through main(argv) on a folder of small MIDI files: trained in both encodings, sampled into
MIDI that music21 and mido read back as the notes the model produced (music21 gives notes that start together
one duration, so for piano rolls it is held to the onsets and mido to every note), evaluated, described, resumed;
bad flags are one line; a missing synthesiser is a message, not a failure."""

from fractions import Fraction

import mido
import numpy as np
import pytest
from music21 import converter

from rnnkit.cli import main
from rnnkit.data.music_encodings import is_note_token, split_note
from rnnkit.improvise import improvise
from rnnkit.music_files import write_piece
from rnnkit.runs import load_run
from fixtures.make_runs import tunes
from test_cli import one_error_line
from test_train import sigterm_after

TINY = ["--hidden", "16", "--batch-size", "8", "--seq-len", "16", "--lr", "0.02", "--eval-every", "20"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Thirty two-bar tunes in C, a random walk on the scale in halves and quarters, as MIDI."""
    return tunes(tmp_path_factory.mktemp("tunes"), 30)


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def runs(folder, tmp_path_factory):
    made = {}
    for encoding in ("events", "pianoroll"):
        made[encoding] = tmp_path_factory.mktemp("runs") / encoding
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("RNNKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
            assert main(["train", "--task", "music", "--data", str(folder), "--encoding", encoding, "--steps", "40",
                         "--out", str(made[encoding]), *TINY]) == 0
    return made


def midi_notes_music21(path):
    """(pitch, start, duration) as music21 reads a MIDI file (it splits notes at bar lines: ties are joined)."""
    notes = converter.parse(path).stripTies().flatten().notes
    return [(n.pitch.midi, Fraction(n.offset), Fraction(n.quarterLength)) for n in notes]


def midi_notes_mido(path):
    """(pitch, start, duration) in quarter notes from the raw note-on/note-off messages."""
    midi = mido.MidiFile(path)
    found, sounding = [], {}
    for track in midi.tracks:
        tick = 0
        for message in track:
            tick += message.time
            if message.type == "note_on" and message.velocity > 0:
                sounding[message.note] = tick
            elif message.type in ("note_off", "note_on") and message.note in sounding:
                start = sounding.pop(message.note)
                found.append((message.note, Fraction(start, midi.ticks_per_beat),
                              Fraction(tick - start, midi.ticks_per_beat)))
    return sorted(found, key=lambda n: (n[1], n[0]))


def token_notes(tokens):
    """(pitch, start, duration) of the notes that event tokens describe, a note tied to the next held on."""
    from music21 import pitch

    notes, time, held = [], Fraction(0), False
    for token in filter(is_note_token, tokens):
        name, length = split_note(token)
        if name != "R":
            midi = pitch.Pitch(name).midi
            if held and notes[-1][0] == midi and notes[-1][1] + notes[-1][2] == time:
                notes[-1] = (midi, notes[-1][1], notes[-1][2] + length)
            else:
                notes.append((midi, time, length))
        held = name != "R" and token.endswith("~")
        time += length
    return notes


def test_train_reports_beside_its_baselines_and_writes_samples(runs, capsys):
    assert (runs["events"] / "samples" / "sample-1.mid").exists()
    assert (runs["events"] / "samples" / "sample-1.musicxml").exists()
    assert (runs["pianoroll"] / "samples" / "sample-1.png").exists()


def test_sampled_events_are_read_back_as_the_notes_the_model_produced(runs, tmp_path):
    run = load_run(runs["events"])
    pieces = [p for p in improvise(run, 6, seed=0, bars=4) if token_notes(p["tokens"])]  # some may end at once
    assert len(pieces) >= 3
    for i, piece in enumerate(pieces):
        files = write_piece(tmp_path, f"p{i}", piece["score"], melody=True)
        expected = token_notes(piece["tokens"])
        assert midi_notes_music21(files[0]) == expected
        assert midi_notes_mido(files[0]) == sorted(expected, key=lambda n: (n[1], n[0]))
        assert piece["tokens"].count("|") <= 3  # four bars: three bar lines at most


def test_sampled_piano_rolls_are_read_back_as_the_frames_the_model_produced(runs, tmp_path):
    run = load_run(runs["pianoroll"])
    grid = run.meta["grid"]
    for i, piece in enumerate(improvise(run, 2, seed=1, frames=24)):
        files = write_piece(tmp_path, f"r{i}", piece["score"], melody=False, grid=grid, frames=piece["frames"])
        frames = piece["frames"]
        by_mido = np.zeros_like(frames)
        for pitch_, start, length in midi_notes_mido(files[0]):
            by_mido[int(start / grid) : int((start + length) / grid), pitch_ - 21] = True
        np.testing.assert_array_equal(by_mido, frames)
        # music21 reads notes that start together as one chord with one duration, so compare the onsets
        onsets = {(p.midi, Fraction(n.offset)) for n in converter.parse(files[0]).flatten().notes for p in n.pitches}
        starts = np.diff(np.vstack([np.zeros((1, 88), bool), frames]).astype(np.int8), axis=0) == 1
        assert onsets == {(int(k) + 21, f * Fraction(grid)) for f, k in zip(*np.nonzero(starts))}


def test_sample_writes_files_with_a_prime_and_says_how_novel(runs, folder, tmp_path, capsys):
    out = tmp_path / "events"
    assert main(["sample", str(runs["events"]), "-n", "2", "--bars", "3", "--seed", "0", "--out", str(out),
                 "--prime", str(folder / "tune00.mid"), "--temperature", "0.8"]) == 0
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == [f"sample-{i}.{x}" for i in (1, 2) for x in ("mid", "musicxml", "png")]
    assert "longest run of tokens shared with a training piece" in captured.err
    prime_notes = midi_notes_music21(folder / "tune00.mid")[:-1]  # the last may be tied into what follows
    assert midi_notes_music21(out / "sample-1.mid")[: len(prime_notes)] == prime_notes
    roll_out = tmp_path / "roll"
    assert main(["sample", str(runs["pianoroll"]), "-n", "1", "--frames", "8", "--out", str(roll_out),
                 "--prime", str(folder / "tune01.mid")]) == 0
    assert sorted(p.name for p in roll_out.iterdir()) == ["sample-1.mid", "sample-1.png"]


def test_wav_without_a_synthesiser_is_a_message_and_the_rest_is_written(runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert main(["sample", str(runs["pianoroll"]), "-n", "1", "--frames", "4", "--wav", "--out", str(tmp_path)]) == 0
    assert "no WAV: FluidSynth is not installed" in capsys.readouterr().err
    assert (tmp_path / "sample-1.mid").exists() and not (tmp_path / "sample-1.wav").exists()


def test_eval_and_info_describe_a_music_run(runs, folder, capsys):
    assert main(["eval", str(runs["pianoroll"]), "--data", str(folder), "--json"]) == 0
    result = capsys.readouterr().out
    assert '"unit": "frame"' in result and '"pieces": 30' in result
    assert main(["info", str(runs["events"])]) == 0
    assert "events encoding" in capsys.readouterr().out


@pytest.mark.parametrize("argv,expected", [
    (["--frames", "8"], "--frames is for piano-roll models"),
    (["--label", "x"], "--label is for a conditional generator (--task generate); "),
    (["--bars", "0"], "--bars must be a positive int, got 0"),
])
def test_bad_sample_flags_are_one_line(runs, capsys, argv, expected):
    one_error_line(capsys, main(["sample", str(runs["events"]), *argv]), expected)


def test_a_piano_roll_refuses_bars_and_music_flags_need_a_music_run(runs, capsys, tmp_path):
    one_error_line(capsys, main(["sample", str(runs["pianoroll"]), "--bars", "2"]), "a piano roll takes --frames")
    lm = tmp_path / "lm"
    text = tmp_path / "names.txt"
    text.write_text("anna\nbob\ncarl\ndora\n" * 10, encoding="utf-8")
    assert main(["train", "--data", str(text), "--steps", "2", "--hidden", "8", "--batch-size", "4", "--mode", "lines",
                 "--out", str(lm)]) == 0
    one_error_line(capsys, main(["sample", str(lm), "--wav"]), "--wav is for a music model (--task music); ")
    one_error_line(capsys, main(["train", "--encoding", "events"]), "--encoding does not apply to --task lm")


def test_an_interrupted_music_run_resumes(folder, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    sigterm_after(monkeypatch, 5)
    argv = ["train", "--task", "music", "--data", str(folder), "--steps", "10", "--out", str(out), *TINY]
    assert main(argv) == 143  # interrupted by SIGTERM, saved
    assert "interrupted at step 5" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    assert main(["train", "--resume", str(out)]) == 0
    assert load_run(out, which="last").meta["step"] == 10


def test_a_prime_with_durations_the_model_never_saw_is_fitted_to_its_vocabulary(runs):
    from rnnkit.improvise import fit_to_vocabulary

    meta = load_run(runs["events"]).meta
    fitted, changed = fit_to_vocabulary(["key=C:major", "C4_1", "D4_1/12", "B4_1~", "C9_1", "R_1/12", "meter=7/8"],
                                        meta)
    assert changed == 5
    assert fitted[:2] == ["key=C:major", "C4_1"]  # known tokens stay
    assert fitted[2:4] == ["D4_1", "B4_1"]  # the nearest duration; no B4 tie known, so B4 held or not
    assert fitted[4].startswith("R_")
    assert len(fitted) == 5  # C9 (never seen at any length) and the unknown metre are left out
