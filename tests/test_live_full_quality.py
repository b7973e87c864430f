"""Live sources hand over the device's own frames (rate, channels) for recording, while
read() gives the model 16 kHz mono made from the very same frames."""

from __future__ import annotations

import numpy as np

from par_studio.constants import SAMPLE_RATE


class _StereoDevice:
    """A sounddevice stand-in: one 48 kHz input with 2 channels; the stream it opens is kept
    so the test can call its callback as PortAudio's thread would."""

    opened: list = []

    class default:
        device = (0, 0)

    @staticmethod
    def query_devices(device=None, kind=None):
        info = {"index": 0, "name": "USB interface", "max_input_channels": 2, "default_samplerate": 48000.0,
                "hostapi": 0}
        return info if kind is not None else [info]

    @staticmethod
    def query_hostapis():
        return [{"name": "ALSA"}]

    class InputStream:
        def __init__(self, device, channels, samplerate, dtype, blocksize, callback):
            self.channels, self.samplerate, self.callback = channels, samplerate, callback
            _StereoDevice.opened.append(self)

        def start(self):
            pass

        def stop(self):
            pass

        def close(self):
            pass


def test_a_stereo_48k_microphone_is_opened_and_kept_as_it_is(monkeypatch):
    from par_studio.audio import live

    monkeypatch.setattr(live, "_sounddevice", lambda: _StereoDevice)
    _StereoDevice.opened = []
    src = live.MicrophoneSource()
    src.keep_raw = True
    src.start()
    stream = _StereoDevice.opened[0]
    assert (stream.channels, stream.samplerate) == (2, 48000) and (src.channels, src.device_rate) == (2, 48000)
    t = np.arange(48000) / 48000
    frames = np.stack([np.sin(2 * np.pi * 440 * t), 0.25 * np.sin(2 * np.pi * 660 * t)], axis=1).astype(np.float32)
    for a in range(0, len(frames), 480):  # 10 ms blocks from the audio thread
        stream.callback(frames[a:a + 480], 480, None, None)
    src.stop()
    mono = np.concatenate([src.read(4000) for _ in range(6)] + [src.read()])
    raw = src.take_raw()
    assert raw.shape == frames.shape and np.array_equal(raw, frames)  # every frame, untouched
    assert abs(len(mono) - SAMPLE_RATE) <= 1  # 1 s at 16 kHz
    want = 0.5 * (np.sin(2 * np.pi * 440 * np.arange(len(mono)) / SAMPLE_RATE)
                  + 0.25 * np.sin(2 * np.pi * 660 * np.arange(len(mono)) / SAMPLE_RATE))
    assert np.abs(mono[2000:-2000] - want[2000:-2000]).max() < 1e-2  # the mix, resampled


def test_a_full_ring_drops_whole_frames_only():
    from par_studio.audio.live import AudioSource

    src = AudioSource(buffer_seconds=0.001, device_rate=48000, channels=2)  # 48 frames
    block = np.arange(2 * 30, dtype=np.float32).reshape(30, 2)
    src._produce(block)
    src._produce(block)  # 18 of 30 frames fit
    assert src.overflows == 1 and src.ring.available() == 2 * 48
    src.keep_raw = True
    src.read()
    raw = src.take_raw()
    assert raw.shape == (48, 2) and np.array_equal(raw[30:], block[:18])  # channels stay paired


def test_a_file_played_as_live_input_keeps_its_rate_and_channels(tmp_path):
    import soundfile as sf

    from par_studio.audio.live import FileSource

    frames = (np.random.default_rng(0).uniform(-0.5, 0.5, (22050, 2))).astype(np.float32)
    path = tmp_path / "take.wav"
    sf.write(path, frames, 44100, subtype="FLOAT")
    src = FileSource(path, realtime=False)
    src.keep_raw = True
    assert (src.device_rate, src.channels) == (44100, 2)
    src.start()
    out = []
    while not src.finished:
        out.append(src.read())
    src.stop()
    assert np.array_equal(src.take_raw(), frames)
    assert abs(sum(map(len, out)) - 8000) <= 1  # 0.5 s at 16 kHz mono


def test_a_file_too_big_to_hold_as_stored_plays_as_16k_mono(tmp_path, monkeypatch):
    import soundfile as sf

    from par_studio.audio import live

    frames = np.zeros((44100, 2), np.float32)
    path = tmp_path / "big.wav"
    sf.write(path, frames, 44100)
    monkeypatch.setattr(live, "MAX_NATIVE_SAMPLES", 1000)
    src = live.FileSource(path, realtime=False)
    assert (src.device_rate, src.channels) == (SAMPLE_RATE, 1) and len(src.audio) == SAMPLE_RATE
