"""Training data: (audio, MIDI) pairs from our rendered corpus or from MAESTRO v3, served as
random fixed-length crops with frame labels and the recursive context of the crop's first frame.

A crop of L frames starting at frame f0 yields
    frames  (L, N_FFT) float32  the windows the front end needs (zeros outside the file)
    state   (L, 88) int64       note states
    velocity(L, 88) float32     velocity/128 of the sounding note
    onset   (L, 88) bool        onset or re-onset frames
    prev_state, prev_time, prev_velocity (L, 88): context each frame sees (from frame t-1,
                                including frame f0-1 of the file for the crop's first frame)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ..constants import HOP_LENGTH, N_FFT, SAMPLE_RATE, TIME_SINCE_ONSET_CAP, WINDOW_HALF
from ..features import n_frames
from ..notes import encode, notes_from_midi


@dataclass
class Pair:
    audio: Path
    midi: Path


def corpus_pairs(corpus_dir, split: str) -> list[Pair]:
    """(FLAC, MIDI) pairs of one split of a corpus made by `par-studio build-corpus`."""
    d = Path(corpus_dir) / split
    pairs = []
    for a in sorted(d.glob("*.flac")):
        m = a.with_suffix(".mid")
        if m.exists():
            pairs.append(Pair(a, m))
    return pairs


def maestro_pairs(maestro_dir, split: str) -> list[Pair]:
    """Pairs of one split ("train", "validation", "test") of a MAESTRO v3 tree, from its
    ``maestro-v3.0.0.csv`` (columns include split, midi_filename, audio_filename)."""
    root = Path(maestro_dir)
    metas = sorted(root.glob("maestro-v*.csv"))
    if not metas:
        raise FileNotFoundError(f"{root}: no maestro-v*.csv metadata file (expected MAESTRO v3 layout)")
    pairs = []
    with open(metas[-1], newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["split"] == split:
                pairs.append(Pair(root / row["audio_filename"], root / row["midi_filename"]))
    return pairs


def dir_pairs(directory) -> list[Pair]:
    """Audio files with a MIDI file of the same stem (`a.wav` + `a.mid`), recursively."""
    from ..cli import AUDIO_EXTENSIONS

    out = []
    for a in sorted(Path(directory).rglob("*")):
        if a.suffix.lower() in AUDIO_EXTENSIONS:
            for ext in (".mid", ".midi"):
                if a.with_suffix(ext).exists():
                    out.append(Pair(a, a.with_suffix(ext)))
                    break
    return out


def fit_and_calibration_files(corpus: Path, n: int) -> tuple[list[Path], list[Path]]:
    """The training items a post-hoc model (velocity refiner, note verifier) learns from and
    the calibration items it is chosen on, of a corpus-v2 folder: every (514 // n)-th item of
    ``train/`` from the first, n of them (so for n = 103 every 4th of the first 412), and all of
    ``calibration/``."""
    files = sorted((Path(corpus) / "train").glob("*.flac"))
    files = files[:: max(1, len(files) // max(n, 1))][:n]
    return files, sorted((Path(corpus) / "calibration").glob("*.flac"))


class _Item:
    """One file: 16 kHz audio (read lazily, resampled once if needed) and compact labels."""

    def __init__(self, pair: Pair):
        self.pair = pair
        info = sf.info(str(pair.audio))
        self.native = info.samplerate == SAMPLE_RATE and info.channels == 1
        self.n_samples = int(info.frames * SAMPLE_RATE / info.samplerate)
        self.T = n_frames(self.n_samples)
        lab = encode(notes_from_midi(pair.midi, sustain=True), self.T)
        self.state = lab.state.astype(np.uint8)
        self.velocity = lab.velocity.astype(np.float16)
        self.time = (lab.prev_time * TIME_SINCE_ONSET_CAP).round().astype(np.uint16)  # shifted by 1
        self.prev_vel = lab.prev_velocity.astype(np.float16)
        self._audio = None

    def samples(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) at 16 kHz mono, zeros outside the file."""
        out = np.zeros(stop - start, np.float32)
        a, b = max(0, start), min(self.n_samples, stop)
        if b <= a:
            return out
        if self.native:
            x = sf.read(str(self.pair.audio), start=a, stop=b, dtype="float32")[0]
        else:
            if self._audio is None:
                from ..audio.io import load_audio

                self._audio = load_audio(self.pair.audio)
                self.n_samples = len(self._audio)
            x = self._audio[a:b]
        out[a - start : a - start + len(x)] = x
        return out


class CropDataset:
    """Random crops of ``crop_frames`` frames from a list of pairs (no torch Dataset needed:
    the trainer draws batches with :meth:`batch`)."""

    def __init__(self, pairs: list[Pair], crop_frames: int = 160, seed: int = 0, log=print):
        if not pairs:
            raise ValueError("no training pairs")
        self.items = []
        for i, p in enumerate(pairs):
            try:
                self.items.append(_Item(p))
            except Exception as exc:  # a broken pair is skipped, not fatal
                log(f"skipping {p.audio}: {exc}")
        self.crop = crop_frames
        self.rng = np.random.default_rng(seed)
        weights = np.array([max(1, it.T - crop_frames) for it in self.items], np.float64)
        self.p = weights / weights.sum()

    @property
    def hours(self) -> float:
        return sum(it.n_samples for it in self.items) / SAMPLE_RATE / 3600

    def crop_at(self, item: _Item, f0: int) -> dict:
        L = self.crop
        start = f0 * HOP_LENGTH - WINDOW_HALF
        stop = (f0 + L - 1) * HOP_LENGTH + WINDOW_HALF
        x = item.samples(start, stop)
        frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP_LENGTH]
        sl = slice(f0, f0 + L)
        state = np.zeros((L, 88), np.int64)
        vel = np.zeros((L, 88), np.float32)
        n = max(0, min(L, item.T - f0))
        state[:n] = item.state[sl]
        vel[:n] = item.velocity[sl]
        prev_state = np.zeros((L, 88), np.int64)
        if f0 > 0:
            prev_state[0] = item.state[f0 - 1]
        prev_state[1:] = state[:-1]
        prev_time = np.zeros((L, 88), np.float32)
        prev_vel = np.zeros((L, 88), np.float32)
        prev_time[:n] = item.time[sl] / TIME_SINCE_ONSET_CAP
        prev_vel[:n] = item.prev_vel[sl]
        onset = (state == 2) | (state == 4)
        return dict(frames=np.ascontiguousarray(frames, np.float32), state=state, velocity=vel,
                    onset=onset, prev_state=prev_state, prev_time=prev_time, prev_velocity=prev_vel)

    def sample(self) -> dict:
        it = self.items[self.rng.choice(len(self.items), p=self.p)]
        f0 = int(self.rng.integers(0, max(1, it.T - self.crop)))
        return self.crop_at(it, f0)

    def batch(self, size: int) -> dict[str, torch.Tensor]:
        crops = [self.sample() for _ in range(size)]
        return {k: torch.from_numpy(np.stack([c[k] for c in crops])) for k in crops[0]}
