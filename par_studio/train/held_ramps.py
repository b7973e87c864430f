"""Held-note decay variety for rendered training items (``build-corpus --held-ramps``).

The training SoundFonts bake a piano's decay into their samples: a held middle C loses about
20 dB in 1.5 s, and SoundFont generators (decay, sustain) hardly change that. Other pianos
decay more slowly or settle on a plateau while the key is down (the held-out freepats piano
stays within 13 dB of its attack for as long as the key is held). A model that has only heard
fast decays learns "quiet means released" and ends such notes late.

A *held ramp* counteracts the decay of every note while it is held: the note starts
``atten_db`` down (MIDI CC11, expression) and its channel's expression rises by ``rate_db_s``
per second from its onset until the note is released (key up and pedal up) or the full level
is reached; the release then rings at the level it reached. Expression acts on a whole MIDI
channel, so each note gets a channel of its own while it sounds (its release tail included);
a key struck again while it still sounds stays on its channel (the synthesizer then releases
the old voice, as the labels do); notes that find no free channel play on one static channel
held at the starting attenuation, so every onset starts equally loud and velocities keep their
meaning.

FluidSynth's default CC11 modulator (SF2.01 8.4.6, negative concave, 960 cB) attenuates by
``40 * log10(127 / value)`` dB, which :func:`expression_value` inverts.

Times are in seconds, pitches are MIDI note numbers. Engine-free: no Qt, no rendering here.
"""

from __future__ import annotations

import math

import numpy as np
import pretty_midi

from par_studio.notes import Notes, apply_sustain, sustain_intervals

EXPRESSION_CC = 11
#: MIDI channels a pretty_midi file can give melodic instruments (16 less the drum channel)
MAX_CHANNELS = 15
#: expression updates while a ramp rises (40 per second; the synthesizer smooths within 64 samples)
RAMP_STEP_S = 0.025
#: the reset to the starting level comes this long before the channel's next onset
RESET_LEAD_S = 0.003
#: release tail during which a channel stays taken, for the SoundFont's own release (scaled by
#: the item's release offset: 1200 timecents = twice as long)
TAIL_S = 0.8


def expression_value(atten_db: float) -> int:
    """CC11 value (1..127) that attenuates by ``atten_db`` dB (>= 0) under FluidSynth's default
    concave expression curve."""
    return int(np.clip(round(127.0 * 10.0 ** (-max(atten_db, 0.0) / 40.0)), 1, 127))


def tail_seconds(release_tc: float | None) -> float:
    """How long a released note is assumed to ring with a release offset of ``release_tc``."""
    return TAIL_S * 2.0 ** (max(float(release_tc or 0.0), 0.0) / 1200.0)


def sounding_ends(notes: list[pretty_midi.Note], pedal: list[tuple[float, int]]) -> np.ndarray:
    """End (s) of each note's sound as the labels see it: key up extended to the pedal release,
    cut at the next onset of the same key; in the order of ``notes``."""
    if not notes:
        return np.zeros(0)
    on = np.array([n.start for n in notes], float)
    off = np.array([n.end for n in notes], float)
    pitch = np.array([n.pitch for n in notes], int)
    vel = np.array([n.velocity for n in notes], int)
    order = np.lexsort((pitch, on))  # Notes.sorted's order: onset, then pitch
    ext = apply_sustain(Notes(on, off, pitch, vel), sustain_intervals(pedal), end_time=float(off.max()))
    ends = np.empty(len(notes))
    ends[order] = ext.offset
    return np.maximum(ends, off)


def assign_channels(notes: list[pretty_midi.Note], ends: np.ndarray, tail_s: float,
                    n_ramp: int) -> list[int]:
    """Channel per note: 0..n_ramp-1 are ramp channels, each sounding one note at a time (a key
    struck again keeps its channel); ``n_ramp`` is the shared static channel."""
    free_at = [-math.inf] * n_ramp
    last: dict[int, tuple[int, float]] = {}  # pitch -> (channel, busy until)
    out = [n_ramp] * len(notes)
    for i in sorted(range(len(notes)), key=lambda k: (notes[k].start, notes[k].pitch)):
        n = notes[i]
        busy_until = float(ends[i]) + tail_s
        prev = last.get(n.pitch)
        if prev is not None and prev[1] > n.start:
            ch = prev[0]
        else:
            ch = min(range(n_ramp), key=lambda c: free_at[c]) if n_ramp else n_ramp
            if ch == n_ramp or free_at[ch] > n.start - RESET_LEAD_S:
                ch = n_ramp
        if ch < n_ramp:
            free_at[ch] = max(free_at[ch], busy_until)
        out[i] = ch
        last[n.pitch] = (ch, busy_until)
    return out


def ramp_events(onset: float, end: float, atten_db: float, rate_db_s: float,
                not_before: float = 0.0) -> list[pretty_midi.ControlChange]:
    """CC11 events of one note: the starting level just before ``onset``, then a rise of
    ``rate_db_s`` dB/s until ``end`` or full level, whichever comes first."""
    t_reset = max(onset - RESET_LEAD_S, not_before)
    out = [pretty_midi.ControlChange(EXPRESSION_CC, expression_value(atten_db), t_reset)]
    if rate_db_s <= 0:
        return out
    stop = min(end, onset + atten_db / rate_db_s)
    t = onset + RAMP_STEP_S
    while t <= stop + 1e-9:
        v = expression_value(atten_db - rate_db_s * (t - onset))
        if v != out[-1].value:
            out.append(pretty_midi.ControlChange(EXPRESSION_CC, v, t))
        t += RAMP_STEP_S
    return out


def held_ramp_channels(notes: list[pretty_midi.Note], pedal: list[tuple[float, int]],
                       ramp: dict, release_tc: float | None = None,
                       n_channels: int = MAX_CHANNELS) -> list[tuple[list[pretty_midi.Note], list]]:
    """Split ``notes`` over ``n_channels`` MIDI channels for the held ramp ``ramp``
    (``{"atten_db", "rate_db_s"}``): a list of (notes, CC11 events) per used channel, the static
    channel last. The caller adds the pedal and any other channel events to each."""
    atten, rate = float(ramp["atten_db"]), float(ramp["rate_db_s"])
    ends = sounding_ends(notes, pedal)
    n_ramp = n_channels - 1
    chans = assign_channels(notes, ends, tail_seconds(release_tc), n_ramp)
    out = []
    for ch in range(n_ramp + 1):
        idx = sorted((i for i, c in enumerate(chans) if c == ch), key=lambda i: notes[i].start)
        if not idx:
            continue
        if ch == n_ramp:
            ccs = [pretty_midi.ControlChange(EXPRESSION_CC, expression_value(atten), 0.0)]
        else:
            ccs = []
            for i in idx:
                ccs += ramp_events(notes[i].start, float(ends[i]), atten, rate,
                                   not_before=ccs[-1].time if ccs else 0.0)
        out.append(([notes[i] for i in idx], ccs))
    return out


__all__ = ["EXPRESSION_CC", "MAX_CHANNELS", "assign_channels", "expression_value",
           "held_ramp_channels", "ramp_events", "sounding_ends", "tail_seconds"]
