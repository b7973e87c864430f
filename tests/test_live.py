"""Ring buffer, live sources (file through the ring-buffer path, no-device errors) and the
`par-studio live` command."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from par_studio.audio.ringbuffer import RingBuffer
from par_studio.constants import SAMPLE_RATE
from par_studio.errors import AudioDeviceError, MidiError


# --------------------------------------------------------------------------- ring buffer
def test_ringbuffer_wraps_and_counts_overflow():
    rb = RingBuffer(10)
    assert rb.write(np.arange(6)) == 6
    assert np.array_equal(rb.read(4), np.arange(4, dtype=np.float32))
    assert rb.write(np.arange(6, 14)) == 8  # wraps around
    assert rb.available() == 10 and rb.free() == 0
    assert rb.write([1, 2, 3]) == 0 and rb.overflows == 1 and rb.dropped_samples == 3
    assert np.array_equal(rb.read(), np.arange(4, 14, dtype=np.float32))
    assert rb.write(np.ones(12)) == 10 and rb.overflows == 2 and rb.dropped_samples == 5
    assert len(rb.read(100)) == 10 and len(rb.read()) == 0


def test_ringbuffer_spsc_threads_keep_order():
    rb = RingBuffer(257)
    data = np.arange(30_000, dtype=np.float32)
    got = []

    def produce():
        i = 0
        while i < len(data):
            n = min(rb.free(), 97, len(data) - i)
            if n:
                rb.write(data[i: i + n])
                i += n
            else:
                time.sleep(0.0001)

    t = threading.Thread(target=produce)
    t.start()
    total = 0
    while total < len(data):
        x = rb.read()
        total += len(x)
        got.append(x)
        if not len(x):
            time.sleep(0.0001)
    t.join()
    assert np.array_equal(np.concatenate(got), data) and rb.overflows == 0


# --------------------------------------------------------------------------- sources
def _drain(src):
    out = []
    src.start()
    while not src.finished:
        x = src.read()
        out.append(x)
        if not len(x):
            import time

            time.sleep(0.002)
    src.stop()
    return np.concatenate(out)


def test_file_source_fast_and_realtime(tmp_path):
    from par_studio.audio.live import FileSource

    audio = (np.random.default_rng(0).standard_normal(SAMPLE_RATE // 2) * 0.1).astype(np.float32)
    src = FileSource(audio, realtime=False, block=333, buffer_seconds=0.05)  # tiny ring: must wait
    assert np.array_equal(_drain(src), audio) and src.overflows == 0
    path = tmp_path / "a.wav"
    sf.write(path, audio, SAMPLE_RATE, subtype="FLOAT")
    import time

    t0 = time.perf_counter()
    src = FileSource(path, realtime=True, block=512)
    got = _drain(src)
    assert time.perf_counter() - t0 >= 0.4  # real-time pace: 0.5 s of audio
    assert np.array_equal(got, audio) and src.overflows == 0
    # looping for soak runs
    src = FileSource(audio[:1000], realtime=False, loop_seconds=3000 / SAMPLE_RATE)
    assert np.array_equal(_drain(src), np.tile(audio[:1000], 3))


def test_resampling_on_consumer_side():
    from par_studio.audio.live import AudioSource

    src = AudioSource(buffer_seconds=1.0, device_rate=48_000)
    tone = np.sin(2 * np.pi * 440 * np.arange(48_000) / 48_000).astype(np.float32)
    src.ring.write(tone)
    src._producer_done = True
    y = src.read()
    assert abs(len(y) - SAMPLE_RATE) <= 1 and src.finished
    assert np.abs(y[2000:-2000] - np.sin(2 * np.pi * 440 * np.arange(2000, len(y) - 2000) / SAMPLE_RATE)).max() < 1e-2


class _NoDevices:
    class default:
        device = (-1, -1)

    @staticmethod
    def query_devices(device=None, kind=None):
        if kind is not None:
            raise ValueError("No input device matching")
        return []

    @staticmethod
    def query_hostapis():
        return []


def test_no_input_device_is_a_clear_error(monkeypatch):
    from par_studio.audio import live

    monkeypatch.setattr(live, "_sounddevice", lambda: _NoDevices)
    assert live.list_input_devices() == []
    with pytest.raises(AudioDeviceError, match="No usable default input device.*--file"):
        live.MicrophoneSource()


def test_missing_portaudio_is_a_clear_error(monkeypatch):
    from par_studio.audio import live

    class Boom:
        def find_spec(self, name, path=None, target=None):
            if name == "sounddevice":
                raise OSError("PortAudio library not found")

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Boom()] + sys.meta_path)
    with pytest.raises(AudioDeviceError, match="PortAudio"):
        live.MicrophoneSource(0)


def test_live_cli_device_error_exit_code(monkeypatch, capsys):
    from par_studio import cli
    from par_studio.audio import live

    monkeypatch.setattr(live, "_sounddevice", lambda: _NoDevices)
    assert cli.main(["live", "--list-devices"]) == 1
    assert cli.main(["live", "--device", "3", "--model", "par-compact"]) == 2  # no weights or no device
    assert "error:" in capsys.readouterr().err


def test_midi_port_not_found_lists_ports(monkeypatch):
    import mido

    from par_studio.live_cli import open_midi_output

    monkeypatch.setattr(mido, "get_output_names", lambda: ["Synth A:0", "Other B"])

    with pytest.raises(MidiError, match="Available ports"):
        open_midi_output("no such port 1234")
    opened = []
    monkeypatch.setattr(mido, "open_output", lambda name, **kw: opened.append(name) or name)
    assert open_midi_output("synth a") == "Synth A:0"


# --------------------------------------------------------------------------- live CLI
def live_cli_inputs(tmp_path):
    """2.5 s of test tones as a float WAV and a checkpoint confident on them: (audio, wav, ckpt)."""
    from test_streaming import confident_model, make_audio

    from par_studio.model.checkpoint import save_checkpoint

    audio = make_audio(2.5, seed=3)
    ckpt = save_checkpoint(confident_model("par-compact", 192, audio), tmp_path / "m.pt")
    wav = tmp_path / "in.wav"
    sf.write(wav, audio, SAMPLE_RATE, subtype="FLOAT")
    return audio, wav, ckpt


def test_live_cli_matches_transcribe(tmp_path, capsys):
    from par_studio import cli
    from par_studio.midi_io import read_midi

    audio, wav, ckpt = live_cli_inputs(tmp_path)
    # both refine the velocities from the whole recording (live: when the take stops)
    # live input is heard as it is, not tuning-corrected: compare with transcribe at A440
    assert cli.main(["transcribe", str(wav), "--model", str(ckpt), "-o", str(tmp_path / "off.mid"), "-q",
                     "--tuning", "off"]) == 0
    capsys.readouterr()
    assert cli.main(["live", "--file", str(wav), "--no-realtime", "--model", str(ckpt),
                     "-o", str(tmp_path / "live.mid"), "--record", str(tmp_path / "take.wav")]) == 0
    out = capsys.readouterr().out.splitlines()
    took, _ = sf.read(tmp_path / "take.wav", dtype="float32")  # what was heard, as 16-bit PCM
    assert len(took) == len(audio) and np.allclose(took, np.clip(audio, -1, 1), atol=1 / 32768 + 1e-7)
    off, liv = read_midi(tmp_path / "off.mid"), read_midi(tmp_path / "live.mid")
    assert len(off) > 10 and liv.equals(off, atol=1e-6)
    assert len(out) == len(off)  # one printed line per note
    assert (tmp_path / "off.mid").read_bytes() == (tmp_path / "live.mid").read_bytes()
