"""Two encodings of a score (a ``music21`` stream), each with its decoding back to a score.

Events (the course's musical "values"), the melody as one token per note or rest:

    key=G:minor  meter=2/4  G4_3/4  A4_1/4  B-4_1/4 ... |  F4_1  G4_1/2 ...  R_1/2 ...

The leading tokens are the key (``key=TONIC:MODE``, or ``key=SHARPS`` for a bare key signature) and the
metre; a note is its spelled pitch and its duration in quarter notes (a fraction: ``1/3`` is a triplet
eighth), with ``~`` when it is tied to the next (held, not struck again: ``D4_1~ | D4_1``); a rest is ``R``;
``|`` starts every bar after the first. The melody is the first part's line read
left to right: a chord gives its highest pitch, a note that starts before the previous one ends (a second
voice) is skipped, grace notes (no duration) are skipped, and a gap becomes a rest. Decoding puts the
tokens of each bar into a measure (the first, if short, is a pickup), so that
``melody_events(events_to_score(tokens)) == tokens``.

Piano roll, every part at once: frame ``f`` covers the time [f g, (f + 1) g) for a grid of g quarter
notes, and key k (MIDI pitch 21 + k, the 88 keys of a piano) is on in it when a note of that pitch sounds
at the frame's start, f g. Decoding turns each run of on frames of a key into one note, so repeated notes
of one pitch merge (as in Boulanger-Lewandowski et al. 2012); ``piano_roll(roll_to_score(r, g), g) == r``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import music21

KEYS, LOWEST = 88, 21  # piano keys: MIDI pitches 21 (A0) to 108 (C8)
BAR, REST, TIE = "|", "R", "~"


def _m21():
    import music21

    return music21


def duration_text(quarter_length) -> str:
    """A duration in quarter notes as a fraction: 1, 1/2, 3/2, 1/3."""
    return str(Fraction(quarter_length).limit_denominator(96))


def _first(stream, kind):
    found = stream.recurse().getElementsByClass(kind)
    return found.first() if found else None


def _melody_part(score):
    return score.parts[0] if getattr(score, "parts", None) else score


def melody_events(score) -> list[str]:
    """The event tokens of the melody of ``score`` (its first part); see the module docstring."""
    m21 = _m21()
    part = _melody_part(score)
    tokens = []
    key = _first(part, m21.key.KeySignature)
    if isinstance(key, m21.key.Key):
        tokens.append(f"key={key.tonic.name}:{key.mode}")
    elif key is not None:
        tokens.append(f"key={key.sharps}")
    meter = _first(part, m21.meter.TimeSignature)
    if meter is not None:
        tokens.append(f"meter={meter.ratioString}")
    bars = [Fraction(m.offset) for m in part.getElementsByClass(m21.stream.Measure)][1:]
    end, bar = Fraction(0), 0
    for element in part.flatten().notesAndRests:
        start, length = Fraction(element.offset), Fraction(element.quarterLength)
        if length == 0 or start < end:  # a grace note, or a second voice under the melody
            continue
        if start > end:  # a gap: the melody rests
            bar = _bars_until(end, bars, bar, tokens)
            tokens.append(f"{REST}_{duration_text(start - end)}")
            end = start
        bar = _bars_until(start, bars, bar, tokens)
        if element.isRest:
            tokens.append(f"{REST}_{duration_text(length)}")
        else:
            top = max(element.pitches, key=lambda p: p.ps)
            tied = element.tie is not None and element.tie.type in ("start", "continue")
            tokens.append(f"{top.nameWithOctave}_{duration_text(length)}{TIE if tied else ''}")
        end = start + length
    return _drop_loose_ties(tokens)


def _drop_loose_ties(tokens) -> list[str]:
    """Keep ``~`` only on a note followed by a note of the same pitch (scores hold ties to nowhere too)."""
    notes = [i for i, t in enumerate(tokens) if is_note_token(t)]
    for i, j in zip(notes, notes[1:] + [None]):
        same = j is not None and split_note(tokens[j])[0] == split_note(tokens[i])[0] != REST
        if tokens[i].endswith(TIE) and not same:
            tokens[i] = tokens[i][: -len(TIE)]
    return tokens


def _bars_until(time, bars, bar, tokens) -> int:
    """Append a bar token for every bar line at or before ``time`` not yet passed; the next bar's index."""
    while bar < len(bars) and bars[bar] <= time:
        tokens.append(BAR)
        bar += 1
    return bar


def is_note_token(token: str) -> bool:
    return "_" in token and not token.startswith(("key=", "meter="))


def split_note(token: str) -> tuple[str, Fraction]:
    """(pitch name or "R", duration in quarter notes) of a note or rest token."""
    name, _, length = token.rpartition("_")
    return name, Fraction(length.rstrip(TIE))


def events_to_score(tokens) -> "music21.stream.Score":
    """A one-part score of event tokens; tokens it cannot read (<EOS>, a key or metre after the first or
    after the first note) are left out."""
    m21 = _m21()
    part, measure, bar_length = m21.stream.Part(), m21.stream.Measure(number=1), None
    notes = []  # (element, whether its token asks for a tie to the next)
    key = meter = None  # the first of each at the start is the piece's; a later one is left out
    for token in tokens:
        if token.startswith("key=") and key is None and not measure.notesAndRests:
            value = token[4:]
            tonic, _, mode = value.partition(":")
            key = m21.key.Key(tonic, mode) if mode else m21.key.KeySignature(int(value))
            measure.insert(0, key)
        elif token.startswith("meter=") and meter is None and not measure.notesAndRests:
            meter = m21.meter.TimeSignature(token[6:])
            measure.insert(0, meter)
            bar_length = Fraction(meter.barDuration.quarterLength)
        elif token == BAR:
            part.append(measure)
            measure = m21.stream.Measure(number=measure.number + 1)
        elif is_note_token(token):
            name, length = split_note(token)
            element = m21.note.Rest() if name == REST else m21.note.Note(name)
            element.quarterLength = length
            notes.append((element, token.endswith(TIE)))
            measure.append(element)
    part.append(measure)
    _tie(notes)
    first = part.getElementsByClass(m21.stream.Measure).first()
    filled = Fraction(first.highestTime)
    if bar_length is not None and 0 < filled < bar_length and len(part) > 1:
        first.paddingLeft = float(bar_length - filled)  # a pickup bar
    score = m21.stream.Score()
    score.insert(0, part)
    return score


def _tie(notes) -> None:
    """Tie each note whose token asks for it to the next, when that is a note of the same pitch."""
    from music21 import tie

    held = False
    for (element, wants), following in zip(notes, notes[1:] + [(None, False)]):
        next_note = following[0]
        ties = (wants and element.isNote and next_note is not None and next_note.isNote
                and next_note.pitch == element.pitch)
        if held or ties:
            element.tie = tie.Tie({(False, True): "start", (True, True): "continue"}.get((held, ties), "stop"))
        held = ties


def piano_roll(score, grid: float) -> np.ndarray:
    """Frames (T, 88) of bools, T = ceil(length / grid): key k on in frame f when pitch 21 + k sounds at f g."""
    g = Fraction(grid)
    flat = score.flatten()
    frames = np.zeros((math.ceil(Fraction(flat.highestTime) / g), KEYS), dtype=bool)
    for element in flat.notes:
        start, length = Fraction(element.offset), Fraction(element.quarterLength)
        if length == 0:
            continue
        first, stop = math.ceil(start / g), math.ceil((start + length) / g)  # frames whose start it covers
        for pitch in element.pitches:
            key = int(round(pitch.ps)) - LOWEST
            if 0 <= key < KEYS:
                frames[first:stop, key] = True
    return frames


def roll_to_score(frames, grid: float) -> "music21.stream.Score":
    """A one-part score with a note for every run of on frames of a key; silence at the end is kept as a rest."""
    m21 = _m21()
    frames = np.asarray(frames, dtype=bool)
    part = m21.stream.Part()
    g = Fraction(grid)
    padded = np.vstack([np.zeros((1, KEYS), bool), frames, np.zeros((1, KEYS), bool)]).astype(np.int8)
    for key in range(KEYS):
        edges = np.diff(padded[:, key])
        for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            note = m21.note.Note(midi=LOWEST + key)
            note.quarterLength = (int(stop) - int(start)) * g
            part.insert(int(start) * g, note)
    sounding = np.flatnonzero(frames.any(axis=1))
    last = int(sounding[-1]) + 1 if sounding.size else 0
    if last < len(frames):
        rest = m21.note.Rest()
        rest.quarterLength = (len(frames) - last) * g
        part.insert(last * g, rest)
    score = m21.stream.Score()
    score.insert(0, part)
    return score
