"""Writing generated music: whatever a model emits (any sequence of event tokens, any binary piano roll)
decodes and saves; a file a format refuses is skipped with one line, and the rest is written."""

from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from rnnkit.data.music_encodings import KEYS, events_to_score, piano_roll, roll_to_score
from rnnkit.music_files import write_piece

# the kinds of token a vocabulary built from real scores holds, odd ones included (folk has 1/36 and 1/5)
PITCHES = ("C4", "F#5", "B-3", "A0", "C8", "G#4", "E-6", "R")
LENGTHS = ("1/96", "1/36", "1/24", "1/16", "1/12", "1/10", "1/8", "1/6", "1/5", "1/4", "1/3", "3/8", "1/2", "2/3",
           "3/4", "7/8", "1", "5/4", "3/2", "7/3", "2", "3", "4", "12")
NOTES = [f"{p}_{d}{tie}" for p in PITCHES for d in LENGTHS for tie in ("", "~")]
OTHER = ["|", "key=G:minor", "key=-2", "key=D:major", "meter=6/8", "meter=9/8", "meter=3/4", "meter=2/2",
         "meter=5/4", "<EOS>"]
WRITERS = settings(max_examples=30, deadline=None, derandomize=True, phases=(Phase.generate, Phase.shrink),
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def written_or_said(tmp_path, stem, score, **kwargs):
    """Write a piece; every expected file is either written or named in exactly one line said about it."""
    said = []
    files = write_piece(tmp_path, stem, score, say=said.append, **kwargs)
    suffixes = (".mid", ".musicxml", ".png") if kwargs["melody"] else (".mid", ".png")
    for suffix in suffixes:
        path = tmp_path / f"{stem}{suffix}"
        reported = [line for line in said if line.startswith(f"{stem}{suffix} not written")]
        assert (path in files) != bool(reported), (suffix, said)
        assert path.exists() == (path in files)
    assert all("\n" not in line for line in said)
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left behind
    return files, said


@WRITERS
@given(tokens=st.lists(st.sampled_from(NOTES + OTHER), max_size=60))
def test_any_event_tokens_decode_and_save(tmp_path_factory, tokens):
    folder = tmp_path_factory.mktemp("events")
    files, said = written_or_said(folder, "piece", events_to_score(tokens), melody=True)
    assert folder / "piece.mid" in files and folder / "piece.png" in files


@WRITERS
@given(roll=st.integers(0, 48).flatmap(lambda t: st.lists(st.lists(st.booleans(), min_size=KEYS, max_size=KEYS),
                                                           min_size=t, max_size=t)),
       grid=st.sampled_from([0.25, 0.5, 1.0]))
def test_any_piano_roll_decodes_and_saves(tmp_path_factory, roll, grid):
    folder = tmp_path_factory.mktemp("roll")
    frames = np.array(roll, dtype=bool).reshape(-1, KEYS)
    score = roll_to_score(frames, grid)
    files, said = written_or_said(folder, "roll", score, melody=False, grid=grid, frames=frames)
    assert said == [] and len(files) == 2
    np.testing.assert_array_equal(piano_roll(score, grid)[: len(frames)], frames)


def test_a_sampled_run_of_tuplets_that_musicxml_cannot_write_is_rounded_not_lost(tmp_path):
    # a folk model's sample: triplets and a 1/36 across 3/4 bars leave a "2048th" at a bar line
    tokens = ["key=D:minor", "meter=3/4"] + ["A4_1/3", "B4_1/6", "G4_1/36", "E4_1/6", "|"] * 12
    said = []
    files = write_piece(tmp_path, "sample", events_to_score(tokens), melody=True, say=said.append)
    assert [p.suffix for p in files] == [".mid", ".musicxml", ".png"]
    assert said == ["sample.musicxml: 12 durations rounded to a multiple of 1/48 quarter note"]
    from music21 import converter

    back = converter.parse(str(tmp_path / "sample.musicxml"))
    for note in back.flatten().notesAndRests:
        assert (Fraction(note.quarterLength) * 48).denominator == 1  # multiples of a triplet 64th


def test_a_writer_that_fails_skips_its_file_only(tmp_path, monkeypatch):
    import rnnkit.music_files as music_files

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(music_files, "plot_piano_roll", full_disk)
    said = []
    files = write_piece(tmp_path, "p", events_to_score(["meter=2/4", "C4_1", "D4_1"]), melody=True, say=said.append)
    assert [p.name for p in files] == ["p.mid", "p.musicxml"]
    assert said == ["p.png not written: OSError: [Errno 28] No space left on device"]


def test_durations_musicxml_spells_are_written_as_they_are(tmp_path):
    tokens = ["meter=4/4", "C4_1/8", "D4_3/8", "E4_1/16", "F4_3/16", "G4_1/24", "A4_1/24", "B4_1/24", "C5_1/12",
              "D5_1/12", "E5_1/12", "F5_7/8", "G5_1"]
    said = []
    write_piece(tmp_path, "p", events_to_score(tokens), melody=True, say=said.append)
    assert said == []
    from music21 import converter

    back = converter.parse(str(tmp_path / "p.musicxml")).flatten().notes
    assert [str(Fraction(n.quarterLength)) for n in back] == [t.split("_")[1] for t in tokens[1:]]


def test_a_piece_with_no_metre_is_written_in_four_four(tmp_path):
    said = []
    write_piece(tmp_path, "p", events_to_score(["C4_3", "D4_3", "E4_3"]), melody=True, say=said.append)
    assert said == ["p.musicxml: written in 4/4 (the piece names no metre)"]


def test_a_second_key_or_metre_is_left_out():
    score = events_to_score(["meter=6/8", "meter=9/8", "key=G:major", "key=-2", "C4_3/2"])
    from music21 import key, meter

    assert [m.ratioString for m in score.recurse().getElementsByClass(meter.TimeSignature)] == ["6/8"]
    assert [k.sharps for k in score.recurse().getElementsByClass(key.KeySignature)] == [1]


def test_a_synthesiser_that_fails_skips_the_wav_only(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "fluidsynth"
    fake.write_text("#!/bin/sh\necho 'fluidsynth: error: cannot load the soundfont' >&2\nexit 1\n")
    fake.chmod(0o755)
    (tmp_path / "font.sf2").write_bytes(b"not a soundfont")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("RNNKIT_SOUNDFONT", str(tmp_path / "font.sf2"))
    said = []
    files = write_piece(tmp_path / "out", "p", events_to_score(["meter=2/4", "C4_1", "D4_1"]), melody=True,
                        say=said.append, wav=True)
    assert [p.name for p in files] == ["p.mid", "p.musicxml", "p.png"]
    assert said == ["p.wav not written: RuntimeError: FluidSynth failed: fluidsynth: error: cannot load the soundfont"]
    assert not list((tmp_path / "out").glob(".*.tmp"))
