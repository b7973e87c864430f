"""Shared fixtures: tiny random-init checkpoints, short synthetic piano-like audio, data paths.

Tests never depend on shipped weights: every model here is a freshly initialised preset
(seeded, so runs are reproducible). Torch runs on one thread: the machine is shared with a
training job and the tests only push a few seconds of audio through the models.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

from par_studio.constants import SAMPLE_RATE  # noqa: E402

#: Real human performances (MIDI), read in place from the shared data folder.
ASAP_ROOT = Path(__file__).resolve().parents[2] / "shared/data/asap"

PRESET_NAMES = ("par", "par-compact")


def build_model(preset: str = "par-compact", latency_ms: int = 320, seed: int = 0):
    """A random-init model in eval mode (BatchNorm uses its running stats, dropout is off)."""
    from par_studio.model import PARModel, preset_config

    torch.manual_seed(seed)
    return PARModel(preset_config(preset, latency_ms)).eval()


def piano_like(seconds: float = 2.0, sr: int = SAMPLE_RATE, notes=((0.10, 60, 0.8), (0.55, 64, 0.6),
               (0.90, 67, 0.7), (1.30, 48, 0.9)), seed: int = 0) -> np.ndarray:
    """A short piano-like signal: struck harmonic tones with a fast attack and an exponential
    decay (inharmonic partials, brighter when louder), plus a little noise. float32, mono."""
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    y = np.zeros(n, np.float64)
    for onset, pitch, amp in notes:
        f0 = 440.0 * 2 ** ((pitch - 69) / 12)
        tt = t - onset
        on = tt >= 0
        env = np.where(on, (1 - np.exp(-np.clip(tt, 0, None) / 0.003)) * np.exp(-np.clip(tt, 0, None) / 0.6), 0)
        for h in range(1, 9):
            fh = f0 * h * np.sqrt(1 + 0.0004 * h * h)
            if fh >= sr / 2:
                break
            y += amp * env * (amp ** (h / 4)) / h * np.sin(2 * np.pi * fh * np.clip(tt, 0, None))
    y += 1e-3 * np.random.RandomState(seed).randn(n)
    y *= 0.5 / max(1e-9, np.abs(y).max())
    return y.astype(np.float32)


@pytest.fixture(scope="session")
def asap_root() -> Path:
    if not ASAP_ROOT.is_dir():
        pytest.skip(f"ASAP performances not found at {ASAP_ROOT}")
    return ASAP_ROOT


@pytest.fixture(scope="session")
def ckpt_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("checkpoints")


@pytest.fixture(scope="session")
def tiny_ckpts(ckpt_dir) -> dict[str, Path]:
    """{preset: path} of a random-init checkpoint of each preset at 320 ms (session scoped)."""
    from par_studio.model.checkpoint import save_checkpoint

    out = {}
    for i, preset in enumerate(PRESET_NAMES):
        out[preset] = save_checkpoint(
            build_model(preset, 320, seed=i), ckpt_dir / f"{preset}-random.pt",
            metadata={"training_data": "none (random init, tests)", "steps": 0, "metrics": {}},
        )
    return out


def lively_model(preset: str = "par-compact", latency_ms: int = 320, seed: int = 0):
    """A random-init model whose state head is rescaled (×10) and re-centred on its own mean
    log-probabilities over a piano-like input, so its greedy states depend on the input and it
    emits notes (a bare random init predicts one constant state everywhere). Real engine
    outputs, not faked ones: just an untrained model with a calibrated output layer."""
    from par_studio.engine.offline import transcribe

    model = build_model(preset, latency_ms, seed)
    tr = transcribe(piano_like(0.8), model)
    lp = np.log(tr.probabilities.astype(np.float32) + 1e-6).reshape(-1, 5)
    mean = torch.from_numpy((lp - lp.mean(1, keepdims=True)).mean(0))
    with torch.no_grad():
        head = model.decoder.state_head
        head.weight.mul_(10)
        head.bias.mul_(10).sub_(10 * mean)
    return model.eval()


@pytest.fixture(scope="session")
def compact_ckpt(ckpt_dir) -> Path:
    """A par-compact checkpoint that emits notes on piano-like input (see lively_model)."""
    from par_studio.model.checkpoint import save_checkpoint

    return save_checkpoint(lively_model("par-compact"), ckpt_dir / "par-compact-lively.pt",
                           metadata={"training_data": "none (random init, calibrated head)", "steps": 0})


@pytest.fixture(scope="session")
def piano_audio() -> np.ndarray:
    """2 s of piano-like audio at 16 kHz mono float32."""
    return piano_like(2.0)


@pytest.fixture
def wav_file(tmp_path, piano_audio) -> Path:
    import soundfile as sf

    p = tmp_path / "piano.wav"
    sf.write(p, piano_audio, SAMPLE_RATE)
    return p


def pytest_collection_modifyitems(config, items):
    """Tests marked ``app_exec`` run the whole app through ``QApplication.exec()`` and ``quit()``.
    After that, Qt treats the application as closing for the rest of the process: nested event
    loops (``qtbot.waitSignal``, a modal dialog's ``exec``) return at once and queued calls no
    longer reach the GUI thread. So they run last, whatever the names of the other test files."""
    last = [item for item in items if item.get_closest_marker("app_exec")]
    if last:
        items[:] = [item for item in items if not item.get_closest_marker("app_exec")] + last
