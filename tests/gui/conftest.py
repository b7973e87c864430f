"""GUI tests: offscreen Qt, random-init checkpoints in a temp models folder, temp settings."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")
pytest.importorskip("pyqtgraph")

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def lively_model(preset, ms, audio, gain=300.0, target=(0.6, -4.0, 0.0, 0.4, -4.0)):
    """A random-init model whose state head is rescaled so it emits a few hundred notes.

    Random init gives near-constant state logits (std ~0.004), i.e. no notes or one per
    frame; centring and amplifying the head makes the output depend on the audio.
    """
    import torch

    from par_studio.model.config import preset_config
    from par_studio.model.par import PARModel

    import inspect

    from par_studio.engine.offline import acoustic_chunks

    torch.manual_seed(0)
    m = PARModel(preset_config(preset, ms)).eval()
    outs = []
    hook = m.decoder.state_head.register_forward_hook(lambda mod, i, o: outs.append(o.detach().reshape(-1, 5)))
    # the frame-by-frame reference decoder calls the state head as a module (a fused fast loop
    # may not), so the hook sees every frame's logits
    kw = {"reference": True} if "reference" in inspect.signature(m.run_decoder).parameters else {}
    ar = None
    with torch.no_grad():
        for _a, feat, vfeat in acoustic_chunks(m, torch.as_tensor(audio)):
            *_, ar = m.run_decoder(feat, vfeat, ar, **kw)
    hook.remove()
    mean = torch.cat(outs).mean(0)
    with torch.no_grad():
        head = m.decoder.state_head
        head.bias.copy_(gain * (head.bias - mean) + torch.tensor(target))
        head.weight.mul_(gain)
    return m


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory, short_audio):
    """Random-init checkpoints named like shipped ones: par-320, par-compact-320, par-compact-192."""
    from par_studio.audio.io import load_audio
    from par_studio.model.checkpoint import save_checkpoint

    audio = load_audio(short_audio)
    d = tmp_path_factory.mktemp("models")
    for preset, ms in (("par", 320), ("par-compact", 320), ("par-compact", 192)):
        save_checkpoint(lively_model(preset, ms, audio), d / f"{preset}-{ms}.pt", {"test": True})
    return d


@pytest.fixture(scope="session")
def empty_models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("no-models")


@pytest.fixture(scope="session")
def short_audio(tmp_path_factory):
    """2.5 s of the bundled example, as a 16 kHz WAV."""
    import soundfile as sf

    from par_studio.audio.io import load_audio

    y = load_audio(RESOURCES / "example.flac", max_seconds=2.5)
    path = tmp_path_factory.mktemp("audio") / "short.wav"
    sf.write(path, y, 16000)
    return path


@pytest.fixture
def make_window(qtbot, tmp_path, models_dir):
    """Factory: a MainWindow with settings in tmp_path and the test models (or another folder)."""
    from par_studio.gui.main_window import MainWindow, ensure_app, make_settings

    ensure_app()
    made = []

    def make(models=None, settings_name="settings.ini"):
        win = MainWindow(make_settings(str(tmp_path / settings_name)),
                         models_dir=models if models is not None else models_dir)
        qtbot.addWidget(win)
        win.resize(1000, 700)
        win.show()
        made.append(win)
        return win

    yield make
    for w in made:
        w.shutdown()


def notes_close(a, b, atol):
    a, b = a.sorted(), b.sorted()
    return (len(a) == len(b) and np.array_equal(a.pitch, b.pitch) and np.array_equal(a.velocity, b.velocity)
            and np.allclose(a.onset, b.onset, atol=atol) and np.allclose(a.offset, b.offset, atol=atol))


class FakeOutputStream:
    """Stands in for ``sounddevice.OutputStream``: no sound card here, so the test pulls the
    blocks the card would, through the Player's real callback, and moves the stream clock."""

    made: list["FakeOutputStream"] = []

    def __init__(self, samplerate, channels, dtype, callback):
        self.samplerate, self.callback = samplerate, callback
        self.time, self.latency, self.active = 100.0, 0.0, False
        self.heard: list[np.ndarray] = []
        FakeOutputStream.made.append(self)

    def start(self):
        self.active = True

    def pull(self, frames: int) -> np.ndarray:
        """One device block of ``frames`` samples; advances the clock by its duration."""
        import sounddevice as sd

        out = np.zeros((frames, 1), np.float32)
        try:
            self.callback(out, frames, None, None)
        except sd.CallbackStop:
            self.active = False
        self.heard.append(out[:, 0].copy())
        self.time += frames / self.samplerate
        return out[:, 0]

    def abort(self):
        self.active = False

    def close(self):
        self.active = False


@pytest.fixture
def fake_output(monkeypatch):
    import sounddevice as sd

    from par_studio.gui import playback

    FakeOutputStream.made = []
    monkeypatch.setattr(sd, "OutputStream", FakeOutputStream)
    monkeypatch.setattr(playback, "output_device_name", lambda: "Fake output")
    return FakeOutputStream
