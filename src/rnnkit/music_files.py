"""Writing a generated piece where a person can use it: MIDI (and MusicXML for a melody) through music21,
a piano-roll PNG beside it, and on request a WAV rendered by FluidSynth with a General MIDI soundfont.

FluidSynth is found on the PATH and the soundfont at ``$RNNKIT_SOUNDFONT`` or a system package's usual
places (Debian/Ubuntu: ``apt install fluidsynth fluid-soundfont-gm``); when either is missing, ``--wav``
says so and the other files are written all the same.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess

from .data.music_encodings import piano_roll
from .plots import plot_piano_roll

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
              "/usr/share/soundfonts/default.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2")
PNG_GRID = 0.25  # the piano-roll picture of a melody: sixteenth notes


def write_piece(folder: pathlib.Path, stem: str, score, melody: bool, grid: float | None = None,
                frames=None) -> list[pathlib.Path]:
    """Write ``stem``.mid, .musicxml (a melody only) and .png into ``folder``; returns the paths written.
    ``frames`` (a piano roll on ``grid``) draws the PNG; otherwise it is drawn from the score."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / f"{stem}.mid"]
    score.write("midi", fp=str(written[0]))
    if melody:
        written.append(folder / f"{stem}.musicxml")
        score.write("musicxml", fp=str(written[-1]))
    if frames is None:
        grid = PNG_GRID
        frames = piano_roll(score, grid)
    written.append(folder / f"{stem}.png")
    plot_piano_roll(written[-1], frames, grid, stem)
    return written


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


def render_wav(midi: pathlib.Path) -> pathlib.Path:
    """``midi`` rendered to a WAV beside it by FluidSynth (44.1 kHz); call ``synthesiser_problem`` first."""
    wav = midi.with_suffix(".wav")
    subprocess.run(["fluidsynth", "-ni", "-F", str(wav), "-r", "44100", str(find_soundfont()), str(midi)],
                   check=True, capture_output=True)
    return wav
