"""Generators of bad, odd and hostile inputs, made at test time (no binary blobs in the repo).

Used by tests/test_fuzz_inputs.py and by scripts/fuzz_inputs.py (the longer run).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000


def tone(seconds: float = 0.4, sr: int = SR, freq: float = 261.63) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.4 * np.sin(2 * np.pi * freq * t) * np.exp(-t / 0.5)).astype(np.float32)


def good_wav(path, seconds: float = 0.4, sr: int = SR) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(os.fsencode(path), tone(seconds, sr), sr, format="WAV", subtype="PCM_16")
    return path


def good_as(path, fmt: str, seconds: float = 0.4) -> Path:
    """A short tone in ``fmt`` ("FLAC", "OGG", "MP3", "WAV")."""
    path = Path(path)
    kw = {"subtype": "VORBIS"} if fmt == "OGG" else {"subtype": "MPEG_LAYER_III"} if fmt == "MP3" else {}
    sf.write(path, tone(seconds, 44100), 44100, format=fmt, **kw)
    return path


def wav_header(rate: int = SR, channels: int = 1, bits: int = 16, block_align: int | None = None,
               data_bytes: int | None = None, payload: bytes = b"\0" * 3200, tag: int = 1) -> bytes:
    """A RIFF/WAVE file with exactly the header fields given (lies included)."""
    if block_align is None:
        block_align = channels * bits // 8
    byte_rate = (rate * block_align) & 0xFFFFFFFF
    fmt = struct.pack("<HHIIHH", tag, channels & 0xFFFF, rate & 0xFFFFFFFF, byte_rate, block_align & 0xFFFF, bits)
    n = len(payload) if data_bytes is None else data_bytes
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", n & 0xFFFFFFFF) + payload
    return b"RIFF" + struct.pack("<I", len(body) & 0xFFFFFFFF) + body


#: name → header keyword arguments of a WAV no real recording has
HOSTILE_WAVS = {
    "rate-1hz": dict(rate=1, payload=b"\1\0" * 20000),
    "rate-999hz": dict(rate=999),
    "rate-4ghz": dict(rate=4_000_000_000),
    "rate-0": dict(rate=0),
    "channels-65535": dict(channels=65535, block_align=2),
    "channels-0": dict(channels=0, block_align=2),
    "bits-7": dict(bits=7, block_align=1),
    "bits-13": dict(bits=13, block_align=2),
    "bits-64-pcm": dict(bits=64),
    "block-align-0": dict(block_align=0),
    "data-beyond-file": dict(data_bytes=10**9, payload=b"\0" * 240),
    "float-16-bit": dict(tag=3, bits=16),
}


def hostile_wav(path, kind: str) -> Path:
    path = Path(path)
    path.write_bytes(wav_header(**HOSTILE_WAVS[kind]))
    return path


def truncated(path, src: Path, fraction: float = 0.5) -> Path:
    data = Path(src).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * fraction)])
    return Path(path)


def random_bytes(path, n: int = 4000, seed: int = 0) -> Path:
    Path(path).write_bytes(np.random.RandomState(seed).bytes(n))
    return Path(path)


def fifo(path) -> Path:
    os.mkfifo(path)
    return Path(path)


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None


def encode_with_ffmpeg(src: Path, dst: Path) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), str(dst)], check=True)
    return dst


def checkpoint_variants(good_blob: dict) -> dict[str, dict]:
    """name → a damaged copy of a checkpoint dict (the kinds a hostile or broken file has)."""
    import copy

    import torch

    def with_cfg(**kw):
        b = copy.deepcopy(good_blob)
        b["config"].update(kw)
        return b

    def with_meta(**kw):
        b = copy.deepcopy(good_blob)
        b["metadata"].update(kw)
        return b

    def with_weights(fn):
        b = copy.deepcopy(good_blob)
        k = next(k for k, v in b["state_dict"].items() if v.is_floating_point() and v.numel() > 1)
        b["state_dict"][k] = fn(b["state_dict"][k])
        return b

    out = {
        "negative-channels": with_cfg(channels=-4),
        "huge-mels": with_cfg(n_mels=10**9),
        "huge-lstm": with_cfg(lstm_hidden=200_000),
        "string-channels": with_cfg(channels="48"),
        "list-dropout": with_cfg(dropout=[0.1]),
        "bool-layers": with_cfg(lstm_layers=True),
        "bias-nan": with_cfg(state_bias=[float("nan")] * 5),
        "config-list": {**copy.deepcopy(good_blob), "config": [1, 2]},
        "metadata-list": {**copy.deepcopy(good_blob), "metadata": ["x"]},
        "metrics-list": with_meta(metrics=[1, 2]),
        "steps-text": with_meta(steps="many"),
        "state-list": {**copy.deepcopy(good_blob), "state_dict": [1, 2, 3]},
        "weights-nan": with_weights(lambda t: torch.full_like(t, float("nan"))),
        "weights-inf": with_weights(lambda t: torch.full_like(t, float("inf"))),
        "weights-int": with_weights(lambda t: t.to(torch.int32)),
    }
    return out
