"""Performances as note lists, and the MIDI the SoundFont renderers play from them.

A :class:`Performance` holds a segment's notes (pretty_midi, seconds, MIDI pitch) and its
sustain-pedal track; it is loaded from ASAP MIDI, cleaned, transposed and cut into segments here.
:func:`to_pretty_midi` turns one back into a renderable MIDI file, with the optional SoundFont
envelope variations (release times, zone shifts, held ramps) as NRPN / CC events.
Split out of :mod:`par_studio.train.corpus` (which re-exports these names).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pretty_midi

from par_studio.constants import MAX_MIDI, MIN_MIDI, SUSTAIN_CC, SUSTAIN_THRESHOLD
from par_studio.errors import CorpusError
from par_studio.train.held_ramps import held_ramp_channels

MIN_SEGMENT_SECONDS = 2.0  #: a trailing remainder shorter than this is dropped
MIN_NOTE_SECONDS = 0.02  #: clipped notes shorter than this are dropped (from MIDI *and* audio)

# --- MIDI handling ------------------------------------------------------------------


@dataclass
class Performance:
    """Piano notes plus sustain-pedal events, all times in seconds."""

    notes: list[pretty_midi.Note]
    pedal: list[tuple[float, int]] = field(default_factory=list)  # (time, CC64 value), sorted

    @property
    def end(self) -> float:
        return max((n.end for n in self.notes), default=0.0)


def sanitize_notes(notes: list[pretty_midi.Note]) -> list[pretty_midi.Note]:
    """Keep notes in MIDI 21..108 with velocity >= 1 and positive length; same-key overlaps are
    resolved by ending the earlier note at the next onset (what a MIDI synth plays anyway)."""
    out = []
    by_pitch: dict[int, list[pretty_midi.Note]] = {}
    for n in notes:
        if MIN_MIDI <= n.pitch <= MAX_MIDI and n.end > n.start and n.velocity > 0:
            by_pitch.setdefault(n.pitch, []).append(
                pretty_midi.Note(int(n.velocity), int(n.pitch), float(n.start), float(n.end))
            )
    for ns in by_pitch.values():
        ns.sort(key=lambda n: (n.start, n.end))
        for a, b in zip(ns[:-1], ns[1:]):
            if a.end > b.start:
                a.end = b.start
        out.extend(n for n in ns if n.end - n.start >= 1e-3)
    out.sort(key=lambda n: (n.start, n.pitch))
    return out


def performance_from_pretty_midi(pm: pretty_midi.PrettyMIDI) -> Performance:
    """All non-drum instruments merged into one piano; only CC64 of the controllers is kept."""
    notes: list[pretty_midi.Note] = []
    pedal: list[tuple[float, int]] = []
    for inst in pm.instruments:
        if inst.is_drum:
            continue
        notes.extend(inst.notes)
        pedal.extend((float(c.time), int(c.value)) for c in inst.control_changes if c.number == SUSTAIN_CC)
    pedal.sort()
    return Performance(sanitize_notes(notes), pedal)


def load_performance(path: Path) -> Performance:
    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as e:  # noqa: BLE001 - mido raises many types
        raise CorpusError(f"Cannot read MIDI {path}: {e}") from e
    return performance_from_pretty_midi(pm)


def transpose(perf: Performance, semitones: int) -> Performance:
    """Shift every note; notes leaving MIDI 21..108 are dropped."""
    notes = [
        pretty_midi.Note(n.velocity, n.pitch + semitones, n.start, n.end)
        for n in perf.notes
        if MIN_MIDI <= n.pitch + semitones <= MAX_MIDI
    ]
    return Performance(notes, list(perf.pedal))


def pedal_value_at(pedal: list[tuple[float, int]], t: float) -> int:
    """CC64 value in force at time t (the last event at or before t; 0 if none)."""
    v = 0
    for time_, value in pedal:
        if time_ <= t:
            v = value
        else:
            break
    return v


def cut_segment(perf: Performance, start: float, end: float) -> Performance:
    """The notes sounding in [start, end), clipped to it and shifted so ``start`` becomes 0.

    The pedal state at ``start`` is carried as a CC64 event at t=0; pedal events inside the
    segment follow; a pedal still down at ``end`` is released at ``end - start``.
    """
    dur = end - start
    notes = []
    for n in perf.notes:
        if n.end <= start or n.start >= end:
            continue
        s, e = max(n.start, start) - start, min(n.end, end) - start
        if e - s >= MIN_NOTE_SECONDS:
            notes.append(pretty_midi.Note(n.velocity, n.pitch, s, e))
    first = pedal_value_at(perf.pedal, start)
    pedal = [(0.0, first)]
    pedal += [(t - start, v) for t, v in perf.pedal if start < t < end]
    if pedal[-1][1] >= SUSTAIN_THRESHOLD:
        pedal.append((dur, 0))
    return Performance(notes, pedal)


def segment_bounds(total: float, segment_seconds: float) -> list[tuple[float, float]]:
    """[(start, end)] covering [0, total) in pieces of at most ``segment_seconds``."""
    if total <= 0:
        return []
    n = max(1, math.ceil(total / segment_seconds - 1e-9))
    bounds = [(i * segment_seconds, min((i + 1) * segment_seconds, total)) for i in range(n)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < MIN_SEGMENT_SECONDS:
        bounds.pop()
    return bounds


#: SoundFont 2.01 generators that :func:`envelope_events` offsets (SF2 spec 8.1.2)
GEN_VOLENVRELEASE = 38
GEN_COARSETUNE = 51
#: FluidSynth scales NRPN data of envelope-time generators by 2 (timecents per NRPN unit);
#: coarse tune is in semitones, unscaled
NRPN_TIMECENT_SCALE = 2
#: with a zone shift, the rendered MIDI starts this much later (the audio is trimmed back), so
#: the retuning NRPNs reach the synthesizer before the first note
ZONE_SHIFT_PREROLL_S = 0.04


def _parts(envelope: dict | None) -> list[dict]:
    """The per-channel envelopes of ``envelope``: its registers, or the envelope itself."""
    if not envelope:
        return []
    return list(envelope.get("registers") or [envelope])


def _release_only(part: dict) -> dict:
    """``part`` without its zone shift and registers: the channel envelope of unshifted notes."""
    return {k: v for k, v in part.items() if k == "release_tc"}


def preroll_seconds(envelope: dict | None) -> float:
    """Silence rendered before the first event (and trimmed from the audio) for ``envelope``."""
    return ZONE_SHIFT_PREROLL_S if any(e.get("zone_shift") for e in _parts(envelope)) else 0.0


def _nrpn(generator: int, value: int, t0: float) -> list[pretty_midi.ControlChange]:
    data = int(np.clip(8192 + value, 0, 16383))
    ccs = ((99, 120), (98, generator), (38, data & 0x7F), (6, data >> 7))
    return [pretty_midi.ControlChange(cc, v, t0 + 0.005 * k) for k, (cc, v) in enumerate(ccs)]


def envelope_events(envelope: dict | None) -> list[pretty_midi.ControlChange]:
    """MIDI CCs that offset SoundFont generators on the channel (SF2.01 NRPN, section 9.6).

    ``envelope`` keys (each optional):

    - ``release_tc``: T lengthens (T > 0) or shortens the volume-envelope release of every
      voice by T timecents (1200 = twice as long);
    - ``zone_shift``: S retunes every voice by -S semitones (coarse tune); :func:`to_pretty_midi`
      then plays each note S keys higher, so the note sounds at its own pitch from the
      SoundFont's samples for the key S away: another timbre from the same samples, like a
      piano sampled at few keys.

    A ``registers`` envelope (see :func:`pick_envelope`) gives each register of the keyboard
    its own channel and its own ``release_tc``/``zone_shift``; pass one register here.

    Each NRPN is MSB 120, LSB = generator, data entry LSB then MSB of ``8192 + value``; the CCs
    are 5 ms apart because MIDI writers reorder CCs that share a tick (5 ms > one tick of
    pretty_midi's 220 ticks per beat at 120 BPM). FluidSynth only.
    """
    if not envelope:
        return []
    out: list[pretty_midi.ControlChange] = []
    if envelope.get("release_tc"):
        out += _nrpn(GEN_VOLENVRELEASE, round(envelope["release_tc"] / NRPN_TIMECENT_SCALE), 0.0)
    if envelope.get("zone_shift"):
        out += _nrpn(GEN_COARSETUNE, -int(envelope["zone_shift"]), 0.005 * len(out))
    return out


def to_pretty_midi(perf: Performance, program: int = 0, end_marker: float | None = None,
                   envelope: dict | None = None) -> pretty_midi.PrettyMIDI:
    """One piano instrument (channel 0) with the notes and CC64; ``end_marker`` adds an
    all-sound-off (CC120) at that time so a renderer stops exactly there; ``envelope`` adds the
    NRPNs of :func:`envelope_events` at the start (rendering only, never in a stored item); with
    a zone shift, every key is moved by it and every event starts :data:`ZONE_SHIFT_PREROLL_S`
    later. A ``registers`` envelope makes one instrument (MIDI channel) per register, holding
    the notes of its keys ``low..high`` (MIDI pitch) with its own NRPNs, and the pedal on
    every channel. Notes that a zone shift would move off the 88 keys (where piano presets are
    silent) keep their key, on an extra channel without the shift."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    t0 = preroll_seconds(envelope)

    def add(notes: list, shift: int, part: dict) -> None:
        inst = pretty_midi.Instrument(program=int(program), name="Piano")
        inst.notes = [pretty_midi.Note(n.velocity, n.pitch + shift, n.start + t0, n.end + t0)
                      for n in notes]
        inst.control_changes = envelope_events(part)
        inst.control_changes += [pretty_midi.ControlChange(SUSTAIN_CC, int(v), float(t) + t0)
                                 for t, v in perf.pedal]
        if end_marker is not None:
            inst.control_changes.append(pretty_midi.ControlChange(120, 0, float(end_marker) + t0))
        pm.instruments.append(inst)

    if envelope and envelope.get("held_ramp"):
        if envelope.get("registers") or envelope.get("zone_shift"):
            raise CorpusError("a held ramp cannot be combined with registers or a zone shift")
        plain = _release_only(envelope)
        for notes, ramp_ccs in held_ramp_channels(perf.notes, perf.pedal, envelope["held_ramp"],
                                                  release_tc=plain.get("release_tc")):
            add(notes, 0, plain)
            pm.instruments[-1].control_changes += ramp_ccs
        return pm
    for part in _parts(envelope) or [{}]:
        low, high = int(part.get("low", 0)), int(part.get("high", 127))
        shift = int(part.get("zone_shift") or 0)
        mine = [n for n in perf.notes if low <= n.pitch <= high]
        # piano presets have no sample zone outside the 88 keys (the keys above are silent):
        # a note whose shifted key would leave them is played unshifted on a channel of its own
        outside = [shift and not MIN_MIDI <= n.pitch + shift <= MAX_MIDI for n in mine]
        add([n for n, o in zip(mine, outside) if not o], shift, part)
        if any(outside):
            plain = _release_only(part)
            add([n for n, o in zip(mine, outside) if o], 0, plain)
    return pm
