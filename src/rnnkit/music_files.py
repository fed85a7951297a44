"""Writing a generated piece where a person can use it: MIDI (and MusicXML for a melody) through music21,
a piano-roll PNG beside it, and on request a WAV rendered by FluidSynth with a General MIDI soundfont.

FluidSynth is found on the PATH and the soundfont at ``$RNNKIT_SOUNDFONT`` or a system package's usual
places (Debian/Ubuntu: ``apt install fluidsynth fluid-soundfont-gm``); when either is missing, ``--wav``
says so and the other files are written all the same.
"""

from __future__ import annotations

import copy
import os
import pathlib
import shutil
import subprocess
import sys
import warnings
from fractions import Fraction

from .data.music_encodings import piano_roll
from .files import replacing
from .plots import plot_piano_roll

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
              "/usr/share/soundfonts/default.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2")
PNG_GRID = 0.25  # the piano-roll picture of a melody: sixteenth notes
QUANTUM = Fraction(1, 48)  # MusicXML durations: multiples of a triplet 64th (which 1/16, 1/12 and 1/8 are)


def write_piece(folder: pathlib.Path, stem: str, score, melody: bool, grid: float | None = None,
                frames=None, say=None, wav: bool = False) -> list[pathlib.Path]:
    """Write ``stem``.mid, .musicxml (a melody only), .png and, with ``wav``, .wav into ``folder``; returns
    the paths written. ``frames`` (a piano roll on ``grid``) draws the PNG; otherwise it is drawn from the
    score. Call ``synthesiser_problem`` before asking for a WAV.

    Any piece a model can emit is written: MusicXML gets it in notation it can write (``_write_musicxml``),
    a file whose format still refuses it is skipped, and ``say`` (default: a line on stderr) is told which
    and why, while the other files are written. Each file is written atomically (``files.replacing``).
    """
    say = say or (lambda line: print(f"rnnkit: {line}", file=sys.stderr))
    folder.mkdir(parents=True, exist_ok=True)
    written = []

    def attempt(suffix: str, write, writes_atomically: bool = False) -> None:
        """``write(path)``, through a temporary file unless the writer does that itself (the plots do)."""
        path = folder / f"{stem}{suffix}"
        try:
            if writes_atomically:
                write(path)
            else:
                with replacing(path) as tmp:
                    write(tmp)
        except Exception as error:  # music21 and matplotlib raise many kinds; the other files still go out
            say(f"{path.name} not written: {type(error).__name__}: {_first_line(error)}")
        else:
            written.append(path)

    attempt(".mid", lambda tmp: score.write("midi", fp=str(tmp)))
    if melody:
        attempt(".musicxml", lambda tmp: _write_musicxml(score, tmp, lambda line: say(f"{stem}.musicxml: {line}")))
    if frames is None:
        grid = PNG_GRID
        frames = piano_roll(score, grid)
    attempt(".png", lambda path: plot_piano_roll(path, frames, grid, stem), writes_atomically=True)
    midi = folder / f"{stem}.mid"
    if wav and midi in written:
        attempt(".wav", lambda tmp: render_wav(midi, tmp))
    return written


def _write_musicxml(score, path: pathlib.Path, say) -> None:
    """A melody (``events_to_score``'s one part of measures) as MusicXML, in notation it can always write.

    MusicXML spells a duration as a note type with dots and tuplets, so a sampled 1/96 or 1/5, or a run of
    triplets over a bar line, can be unwritable ("2048th"), and music21 can spend minutes looking for a
    spelling. So each note and rest is rounded to the nearest multiple of a triplet 64th (1/48 of a
    quarter, never to nothing: sixteenths, triplets, 32nds and their dots are kept as they are) and split
    into tied notes where one type cannot spell it; a piece without a metre is written in 4/4; and where music21 cannot tie a sampled bar that overruns the metre into the
    next one, the melody is barred afresh by the metre. ``say`` is told what changed. The MIDI file
    keeps the piece exactly as sampled.
    """
    import music21 as m21

    part = copy.deepcopy(score.parts[0])
    measures = list(part.getElementsByClass(m21.stream.Measure))
    meters = list(part.recurse().getElementsByClass(m21.meter.TimeSignature))
    meter = meters[0] if meters else m21.meter.TimeSignature("4/4")
    if not meters:
        measures[0].insert(0, meter)
    bar = Fraction(meter.barDuration.quarterLength)
    rounded = 0
    for measure in measures:
        offset = Fraction(0)
        for element in list(measure.notesAndRests):
            length = Fraction(element.quarterLength)
            element.quarterLength = max(QUANTUM, round(length / QUANTUM) * QUANTUM)
            rounded += element.quarterLength != length
            measure.setElementOffset(element, offset)
            offset += Fraction(element.quarterLength)
        measure.coreElementsChanged()
    start = Fraction(0)
    for measure in measures:
        part.setElementOffset(measure, start)
        start += Fraction(measure.highestTime)
    part.coreElementsChanged()
    if measures[0].paddingLeft:
        filled = Fraction(measures[0].highestTime)
        measures[0].paddingLeft = float(bar - filled) if 0 < filled < bar else 0.0
    try:
        _write_part(copy.deepcopy(part), path)  # a copy: a failed attempt leaves notes half-tied
        barred = None
    except Exception as error:  # music21 cannot always tie an overrunning bar into the next one
        barred = f"{type(error).__name__}: {_first_line(error)}"
        line = m21.stream.Part()
        line.append([meter] + [e for m in measures for e in m.notesAndRests])
        _write_part(line.makeMeasures(), path)
    changes = ([f"{rounded} duration{'s' if rounded > 1 else ''} rounded to a multiple of 1/48 quarter note"]
               * bool(rounded) + [f"barred afresh in {meter.ratioString} (as sampled: {barred})"] * bool(barred)
               + ["written in 4/4 (the piece names no metre)"] * (not meters))
    if changes:
        say("; ".join(changes))


def _write_part(part, path: pathlib.Path) -> None:
    import music21 as m21

    part.makeTies(inPlace=True)
    for measure in part.getElementsByClass(m21.stream.Measure):
        measure.splitAtDurations()  # a duration no one note type spells becomes tied notes
    score = m21.stream.Score()
    score.insert(0, part)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # music21 warns about every odd bar of a sampled piece
        score.write("musicxml", fp=str(path))


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0][:200]


def find_soundfont() -> pathlib.Path | None:
    candidates = [os.environ.get("RNNKIT_SOUNDFONT")] + list(SOUNDFONTS)
    return next((pathlib.Path(c) for c in candidates if c and pathlib.Path(c).is_file()), None)


def synthesiser_problem() -> str | None:
    """Why a WAV cannot be rendered here, or None when it can."""
    if shutil.which("fluidsynth") is None:
        return "no WAV: FluidSynth is not installed (Debian/Ubuntu: apt install fluidsynth fluid-soundfont-gm)"
    if find_soundfont() is None:
        return ("no WAV: no General MIDI soundfont found; install one (Debian/Ubuntu: apt install "
                "fluid-soundfont-gm) or set RNNKIT_SOUNDFONT to an .sf2 file")
    return None


def render_wav(midi: pathlib.Path, wav: pathlib.Path) -> None:
    """``midi`` rendered to ``wav`` by FluidSynth (44.1 kHz); raises with FluidSynth's own message."""
    done = subprocess.run(["fluidsynth", "-ni", "-F", str(wav), "-T", "wav", "-r", "44100", str(find_soundfont()),
                           str(midi)], capture_output=True, text=True)
    if done.returncode != 0 or not wav.exists() or wav.stat().st_size == 0:
        raise RuntimeError(f"FluidSynth failed: {(done.stderr or done.stdout).strip()[:200]}")
