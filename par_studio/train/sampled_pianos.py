"""Render piano performances through sampled acoustic pianos (SFZ instruments played by sfizz,
through the PyPI package ``pysfizz``), one note at a time.

Each note is rendered on its own, held to its *pedal-extended* end (pedal release or the next
onset of the same key, whichever comes first, as :func:`par_studio.notes.apply_sustain` gives
the labels) and left to ring for its release, then added into the mix at its onset sample.
Rendering note by note allows tuning every key on its own while keeping timing exact: a key
tuned by ``c`` cents is rendered ``r = 2 ** (c / 1200)`` times longer at its own pitch and
resampled by ``1 / r`` (soxr), so it sounds ``c`` cents away and its onset, held length and
release land on the same output samples as an in-tune note.

Audio is mono float32 at :data:`SAMPLE_RATE` (16 kHz); times are seconds; keys MIDI 21..108.
The instruments live in ``shared/data/pianos`` (their README lists sources and licences);
``PAR_PIANOS_DIR`` overrides that folder.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from par_studio.constants import MAX_MIDI, MIN_MIDI, N_KEYS, SAMPLE_RATE
from par_studio.errors import ParStudioError

RELEASE_SECONDS = 1.5  #: rendered after each note's (pedal-extended) end
BLOCK_SIZE = 256  #: sfizz block; ``render_note`` places the note-off inside a block


class PianoError(ParStudioError):
    """A sampled piano could not be found, loaded or rendered."""


@dataclass(frozen=True)
class SampledPiano:
    """One loadable SFZ instrument. ``sfz`` is relative to the pianos folder."""

    name: str
    sfz: str
    maker: str  #: the piano's maker and model, as the sample set documents it
    licence: str
    role: str  #: "train" or "heldout" (never rendered into training or validation)
    weight: float = 1.0  #: relative share among the training pianos

    def to_dict(self) -> dict:
        return asdict(self)


#: The six pianos of ``shared/data/pianos``. Splendid (a Steinway; no training piano shares its
#: maker) is held out for evaluation; the Intimate variant of Headroom (softest layer through a
#: velocity-dependent low-pass) is a minor training timbre.
PIANOS = (
    SampledPiano("salamander", "salamander/Salamander Grand Piano V3.sfz", "Yamaha C5 grand",
                 "CC BY 3.0 (Alexander Holm)", "train", 1.0),
    SampledPiano("headroom", "headroom/Headroom Piano (NoFX).sfz", "Yamaha C3 grand",
                 "CC BY 4.0 (Bengt Nilsson; SFZ mapping by kinwie)", "train", 1.0),
    SampledPiano("headroom_intimate", "headroom/Intimate Piano (NoFX).sfz",
                 "Yamaha C3 grand, softest layer, muffled", "CC BY 4.0 (Bengt Nilsson; SFZ mapping by kinwie)",
                 "train", 0.3),
    SampledPiano("osiris", "osiris/Programs/01-natural.sfz", "Yamaha C2 grand (worn, soft pedal)",
                 "CC0 (Karoryfer Samples / Versilian Studios; mapping by Jeff Learman)", "train", 0.7),
    SampledPiano("upright_kw", "upright_kw/UprightPianoKW-20220221.sfz", "Kawai upright",
                 "CC0 (FreePats project)", "train", 1.0),
    SampledPiano("old_piano_fb", "old_piano_fb/PianoFB 20200401.sfz",
                 "Francis Bacon upright (honky-tonk)", "CC0 (FreePats project)", "train", 0.8),
    SampledPiano("splendid", "splendid/Splendid Grand Piano.sfz", "Steinway grand",
                 "public domain (Akai samples; SFZ by kinwie; resonance by Peter Eastman)", "heldout"),
)
HELDOUT_PIANO = "splendid"


def default_pianos_dir() -> Path:
    """``$PAR_PIANOS_DIR`` or ``shared/data/pianos`` next to the repository checkout."""
    env = os.environ.get("PAR_PIANOS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "pianos"


def discover_pianos(pianos_dir: Path | None = None, role: str | None = None) -> list[SampledPiano]:
    """The pianos of :data:`PIANOS` whose SFZ file exists (optionally of one role)."""
    d = Path(pianos_dir) if pianos_dir is not None else default_pianos_dir()
    return [p for p in PIANOS if (d / p.sfz).is_file() and (role is None or p.role == role)]


def piano_by_name(name: str) -> SampledPiano:
    for p in PIANOS:
        if p.name == name:
            return p
    raise PianoError(f"unknown sampled piano {name!r}; known: {', '.join(p.name for p in PIANOS)}")


_SYNTHS: dict[tuple[str, int], object] = {}


def load_synth(piano: SampledPiano, pianos_dir: Path | None = None, sr: int = SAMPLE_RATE):
    """A ``pysfizz.Synth`` with the piano loaded (cached per process: loading takes 0.1-3 s
    and up to 600 MB)."""
    key = (piano.name, sr)
    if key not in _SYNTHS:
        try:
            import pysfizz
        except ImportError as e:
            raise PianoError("sampled pianos need sfizz: pip install pysfizz") from e
        path = (Path(pianos_dir) if pianos_dir is not None else default_pianos_dir()) / piano.sfz
        synth = pysfizz.Synth(sample_rate=sr, block_size=BLOCK_SIZE)
        if not path.is_file() or not synth.load_sfz_file(str(path)):
            raise PianoError(f"cannot load the sampled piano {piano.name} from {path}: "
                             "check the pianos folder (PAR_PIANOS_DIR)")
        _SYNTHS[key] = synth
    return _SYNTHS[key]


def retune(x: np.ndarray, cents: float) -> np.ndarray:
    """(n,) audio rendered ``2 ** (cents / 1200)`` times slower than wanted, played back faster
    by that ratio: returns ``round(n / r)`` samples that sound ``cents`` higher. Sample 0 stays
    at sample 0 (soxr's one-shot mode compensates its filter delay)."""
    if abs(cents) < 1e-6:
        return x.astype(np.float32)
    import soxr

    r = 2.0 ** (cents / 1200.0)
    return soxr.resample(x.astype(np.float32), SAMPLE_RATE * r, SAMPLE_RATE, quality="HQ")


def render_note(synth, pitch: int, velocity: int, hold_s: float, total_s: float,
                cents: float = 0.0) -> np.ndarray:
    """One note, mono (n,) float32 of n = ``round(total_s * SAMPLE_RATE)`` samples, ``cents``
    away from the piano's own tuning; held ``hold_s`` seconds from sample 0 in the output's
    time."""
    r = 2.0 ** (cents / 1200.0)
    synth._synth.all_sound_off()  # no tail left over from the previous note
    y = synth.render_note(int(pitch), int(velocity), hold_s * r, total_s * r)
    y = np.asarray(y, np.float32).mean(axis=0)
    y = retune(y, cents)
    n = int(round(total_s * SAMPLE_RATE))
    return np.pad(y[:n], (0, max(0, n - len(y))))


def render_notes(notes, piano: SampledPiano, seconds: float, key_cents: np.ndarray | None = None,
                 pianos_dir: Path | None = None, release_s: float = RELEASE_SECONDS) -> np.ndarray:
    """Mix of every note of ``notes`` (a :class:`par_studio.notes.Notes` whose offsets are the
    pedal-extended ends, velocities already mapped by the touch curve), ``seconds`` long.

    ``key_cents``: (88,) cents per key (MIDI 21..108), None = as sampled. Returns (n,) float32,
    n = round(seconds * SAMPLE_RATE), unnormalised (sfizz levels: about -15..-30 dBFS a note).
    """
    synth = load_synth(piano, pianos_dir)
    n_out = int(round(seconds * SAMPLE_RATE))
    out = np.zeros(n_out, np.float32)
    for on, off, p, v in zip(notes.onset, notes.offset, notes.pitch, notes.velocity):
        if not MIN_MIDI <= p <= MAX_MIDI or on >= seconds:
            continue
        i = int(round(on * SAMPLE_RATE))
        hold = max(float(off - on), 0.01)
        total = min(hold + release_s, seconds - i / SAMPLE_RATE)
        if total <= 0:
            continue
        c = float(key_cents[p - MIN_MIDI]) if key_cents is not None else 0.0
        y = render_note(synth, int(p), int(np.clip(v, 1, 127)), min(hold, total), total, c)
        m = min(len(y), n_out - i)
        out[i:i + m] += y[:m]
    if not np.all(np.isfinite(out)):
        raise PianoError(f"{piano.name}: the render holds NaN/inf")
    return out


def key_cents_array(global_cents: float = 0.0, stretch_cents: float = 0.0,
                    uneven: np.ndarray | None = None) -> np.ndarray:
    """(88,) tuning of each key in cents: the whole piano ``global_cents`` away from A440, plus
    a stretched-octave curve (0 in the middle around A4, +``stretch_cents`` at C8 and about
    -0.6 × that at A0: a cubic, as the inharmonicity of real strings asks of a tuner), plus an
    optional (88,) ``uneven`` per-key deviation."""
    k = np.arange(N_KEYS) + MIN_MIDI
    u = (k - 69) / (MAX_MIDI - 69)  # -1.23 at A0, 1 at C8
    curve = np.where(u >= 0, u ** 3, 0.6 * u ** 3 / (48 / 39) ** 3)
    cents = global_cents + stretch_cents * curve
    if uneven is not None:
        cents = cents + np.asarray(uneven, np.float64)
    return cents.astype(np.float64)
