#!/usr/bin/env python3
"""GUI benchmark: launch → window shown, live-view frame rate, memory with a one-hour file.

    python benchmarks/bench_gui.py [--live-seconds 10] [--minutes 60] [--full]

* **launch**: wall time from spawning ``python -c 'run the app'`` to the main window's first
  paint being processed (median of 3; Qt offscreen unless a display exists).
* **live view**: the window's 30 Hz display timer ticks per second while live mode runs from a
  FileSource at real-time pace (the bundled example), plus drain/worker lag.
* **memory**: RSS after opening a synthetic one-hour file (the example repeated) in the window
  (decoded audio + display spectrogram), then after the window holds and draws a one-hour
  transcription. Without ``--full`` the transcription arrays are the exact size the offline
  engine returns for one hour with notes tiled from a real transcription of the example (the
  model itself needs ~chunk-bounded working memory, measured on the first minutes); ``--full``
  runs the real engine over the whole hour (takes a long time on a CPU).
Uses shipped weights (models/) when present, else a random-init model (said in the output).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen" if not os.environ.get("DISPLAY") else "xcb")
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "resources" / "example.flac"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


LAUNCH = r"""
import time, sys, tempfile
t_spawn = float(sys.argv[1])
from PySide6.QtCore import QTimer
from par_studio.gui.main_window import MainWindow, ensure_app, make_settings
app = ensure_app()
win = MainWindow(make_settings(tempfile.mkdtemp() + "/s.ini"))
win.show()
def shown():
    print(f"{time.time() - t_spawn:.4f}")
    app.quit()
QTimer.singleShot(0, shown)
app.exec()
"""


BARE = r"""
import sys, time
print(f"{time.time() - float(sys.argv[1]):.4f}")
"""


def bench_launch(n: int = 3, code: str = LAUNCH, cwd: Path = ROOT) -> float:
    """Median seconds from spawning ``python -c code`` to what it prints (the window shown)."""
    times = []
    for _ in range(n):
        out = subprocess.run([sys.executable, "-c", code, repr(time.time())], capture_output=True, text=True,
                             cwd=cwd, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def launch_line(n: int = 3, compare: str | None = None) -> str:
    """The launch figure with the bare interpreter's start-up measured alongside (on a loaded
    machine both grow), and optionally the same launch from another git revision's files."""
    line = (f"launch → window shown: {bench_launch(n):.2f} s (median of {n}, fresh interpreter; "
            f"a bare interpreter starts in {bench_launch(n, BARE):.2f} s")
    if compare:
        with tempfile.TemporaryDirectory() as old:
            subprocess.run(f"git -C {ROOT} archive {compare} | tar -x -C {old}", shell=True, check=True)
            line += f"; revision {compare}: {bench_launch(n, cwd=Path(old)):.2f} s"
    return line + ")"


def model_dir_and_note(tmp: Path, preset: str) -> tuple[Path | None, str]:
    from par_studio.model.checkpoint import available_latencies, save_checkpoint
    from par_studio.model.config import preset_config
    from par_studio.model.par import PARModel

    if 320 in available_latencies(preset):
        return None, f"shipped {preset}-320"
    d = tmp / "models"
    save_checkpoint(PARModel(preset_config(preset, 320)), d / f"{preset}-320.pt")
    return d, f"RANDOM-INIT {preset}-320 (no shipped weights yet)"


def wait_until(app, cond, timeout_s: float) -> bool:
    t = time.time()
    while not cond():
        app.processEvents()
        time.sleep(0.002)
        if time.time() - t > timeout_s:
            return False
    return True


def bench_live(app, tmp: Path, seconds: float) -> dict:
    from par_studio.audio.live import FileSource
    from par_studio.gui.main_window import MainWindow, make_settings

    mdir, note = model_dir_and_note(tmp, "par-compact")
    win = MainWindow(make_settings(str(tmp / "live.ini")), models_dir=mdir)
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))
    win.resize(1480, 900)
    win.show()
    win.start_live(FileSource(str(EXAMPLE), realtime=True))
    wait_until(app, lambda: win.live is not None and win.live.get("state") == "running", 60)
    t0, ticks0 = time.time(), win.live["ticks"]
    wait_until(app, lambda: time.time() - t0 > seconds or win.live is None, seconds + 30)
    dt = time.time() - t0
    lv = win.live
    out = {"model": note, "seconds": dt}
    if lv is not None:
        out["fps"] = (lv["ticks"] - ticks0) / dt
        out["dropped_blocks"] = lv["source"].dropped
        out["queue_blocks"] = lv["pending"]  # at most LIVE_MAX_IN_FLIGHT; the lag is queue_ms
        out["queue_ms"] = win.live_backlog_ms()
        out["audio_s"] = lv["samples"] / 16000
        out["notes"] = len(win.notes)
    win.shutdown()
    win.close()
    return out


def make_hour(tmp: Path, minutes: float) -> Path:
    import numpy as np
    import soundfile as sf

    from par_studio.audio.io import load_audio

    y = load_audio(EXAMPLE)
    reps = int(np.ceil(minutes * 60 * 16000 / len(y)))
    path = tmp / "hour.flac"
    with sf.SoundFile(str(path), "w", 16000, 1, format="FLAC", subtype="PCM_16") as f:
        for _ in range(reps):
            f.write(y)
    return path


def bench_memory(app, tmp: Path, minutes: float, full: bool) -> dict:
    import numpy as np

    from par_studio.engine.offline import Transcription, transcribe
    from par_studio.gui.main_window import MainWindow, make_settings
    from par_studio.notes import Notes

    mdir, note = model_dir_and_note(tmp, "par-compact")
    path = make_hour(tmp, minutes)
    out = {"model": note, "file_minutes": minutes, "rss_start_mb": rss_mb()}
    win = MainWindow(make_settings(str(tmp / "mem.ini")), models_dir=mdir)
    win.model_combo.setCurrentIndex(win.model_combo.findData("par-compact"))
    win.resize(1480, 900)
    win.show()
    app.processEvents()
    out["rss_window_mb"] = rss_mb()
    t = time.time()
    win.open_file(str(path), transcribe=full)
    wait_until(app, lambda: win.loaded is not None, 3600)
    out["load_s"] = time.time() - t
    app.processEvents()
    out["rss_loaded_mb"] = rss_mb()
    if full:
        t = time.time()
        wait_until(app, lambda: win.transcription is not None, 6 * 3600)
        out["transcribe_s"] = time.time() - t
    else:
        # the engine's working memory is chunk-bounded: measure it on the first 35 s (one chunk)
        from par_studio.model.checkpoint import resolve_model

        model, _ = resolve_model("par-compact", 320, models_dir=mdir)
        before = rss_mb()
        tr_small = transcribe(win.loaded.audio[: 35 * 16000], model)
        out["engine_2min_rss_delta_mb"] = rss_mb() - before
        # a one-hour Transcription of exactly the engine's shapes, notes tiled from a real one
        T = win.loaded.spectrogram.shape[1]
        ref = tr_small.notes
        reps = int(np.ceil(T * 0.032 / 35.0))
        notes = Notes.concat([Notes(ref.onset + 35.0 * i, ref.offset + 35.0 * i, ref.pitch, ref.velocity)
                              for i in range(reps)])
        tr = Transcription(notes, np.zeros((T, 88), np.uint8), np.zeros((T, 88, 5), np.float16),
                           np.zeros((T, 88), np.float32), "par-compact", 320, T * 0.032)
        tr.states[:] = 1
        tr.probabilities[:] = 1  # touch the pages
        tr.velocity[:] = 1

        class R:
            transcription = tr
            seconds = 0.0
        del tr_small
        win._on_transcribed(R())
    t = time.time()
    app.processEvents()
    win.timeline.fit()
    app.processEvents()
    win.grab()
    out["draw_all_s"] = time.time() - t
    out["notes"] = len(win.notes)
    out["rss_transcribed_mb"] = rss_mb()
    out["peak_rss_mb"] = peak_mb()
    win.shutdown()
    win.close()
    return out


def example_minutes(minutes: float) -> np.ndarray:
    """``minutes`` of the bundled example recording, repeated (16 kHz float32)."""
    from par_studio.audio.io import load_audio
    from par_studio.gui.main_window import EXAMPLE

    y = load_audio(EXAMPLE)
    return np.tile(y, int(np.ceil(minutes * 60 * 16000 / len(y))))[: int(minutes * 60 * 16000)]


def bench_spectrograms(minutes: float = 10.0) -> dict:
    """Seconds to compute the two display spectrograms (mel above, pitch behind the notes) of
    ``minutes`` of the example recording repeated, in the load job's code."""
    from par_studio.gui.spectrum import display_spectrogram, pitch_spectrogram

    y = example_minutes(minutes)
    pitch_spectrogram(y[: 5 * 16000])  # librosa's one-off set-up (filters, resamplers)
    t0 = time.perf_counter()
    display_spectrogram(y)
    t1 = time.perf_counter()
    pitch_spectrogram(y)
    t2 = time.perf_counter()
    return {"minutes": minutes, "mel_s": t1 - t0, "pitch_s": t2 - t1}


def bench_stretch(minutes: float = 10.0) -> dict:
    """Seconds to prepare slowed-down playback (Playback speed 75 % and 50 %) of ``minutes``
    of the example recording repeated: the time the user waits once per file and speed."""
    from par_studio.audio.stretch import time_stretch

    y = example_minutes(minutes)
    out = {"minutes": minutes}
    for speed in (0.75, 0.5):
        t0 = time.perf_counter()
        time_stretch(y, speed)
        out[speed] = time.perf_counter() - t0
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--live-seconds", type=float, default=10.0)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--full", action="store_true", help="run the real engine over the whole file")
    ap.add_argument("--skip", nargs="*", default=[], choices=["launch", "live", "memory", "spectrograms", "stretch"])
    ap.add_argument("--compare-launch", metavar="REV",
                    help="also time the launch with the files of git revision REV (same run)")
    args = ap.parse_args()
    from par_studio.gui.main_window import ensure_app

    print(f"platform: {os.environ.get('QT_QPA_PLATFORM')}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    if "launch" not in args.skip:
        print(launch_line(3, args.compare_launch))
    if "spectrograms" not in args.skip:
        r = bench_spectrograms()
        print(f"display spectrograms of {r['minutes']:.0f} min of audio: mel {r['mel_s']:.2f} s, "
              f"pitch (behind the notes) {r['pitch_s']:.2f} s")
    if "stretch" not in args.skip:
        r = bench_stretch()
        print(f"slowed-down playback of {r['minutes']:.0f} min of audio prepared in: "
              f"75 % {r[0.75]:.2f} s, 50 % {r[0.5]:.2f} s")
    app = ensure_app()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "live" not in args.skip:
            r = bench_live(app, tmp, args.live_seconds)
            print(f"live view ({r['model']}): {r.get('fps', float('nan')):.1f} display frames/s over "
                  f"{r['seconds']:.1f} s; {r.get('audio_s', 0):.1f} s audio in; dropped blocks "
                  f"{r.get('dropped_blocks')}; worker queue {r.get('queue_blocks')} blocks, "
                  f"lag {r.get('queue_ms', 0):.0f} ms; {r.get('notes')} notes")
        if "memory" not in args.skip:
            r = bench_memory(app, tmp, args.minutes, args.full)
            print(f"memory ({r['model']}, {r['file_minutes']:.0f}-minute file): start {r['rss_start_mb']:.0f} MB, "
                  f"window {r['rss_window_mb']:.0f} MB, loaded {r['rss_loaded_mb']:.0f} MB "
                  f"(load {r['load_s']:.1f} s), transcribed+drawn {r['rss_transcribed_mb']:.0f} MB "
                  f"({r['notes']} notes, full redraw {r['draw_all_s']:.2f} s), peak {r['peak_rss_mb']:.0f} MB")
            if "engine_2min_rss_delta_mb" in r:
                print(f"  engine working memory on a 35 s chunk (chunk-bounded): +{r['engine_2min_rss_delta_mb']:.0f} MB; "
                      "the one-hour transcription arrays were synthesised at the engine's exact shapes "
                      "(use --full to run the model over the whole hour)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
