"""Offline benchmark: parameters, MACs per frame, real-time factor and peak memory.

For each preset and latency setting it prints the parameter count, the multiply-accumulates
per 32 ms frame (``par_studio.model.complexity.macs_per_frame``) and the offline real-time
factor (compute seconds per audio second of ``engine.offline.transcribe`` over a 60 s input).
Peak memory (RSS high-water mark, VmHWM) is measured in a fresh subprocess per preset
that loads a 20-minute WAV with ``load_audio`` and transcribes it — the whole CLI path.

Weights: the shipped checkpoint ``models/{preset}-{ms}.pt`` when present, else a random init
(speed and memory do not depend on the weights; the "weights" column says which).

    python benchmarks/bench_offline.py                       # everything (several minutes)
    python benchmarks/bench_offline.py --presets par-compact --latencies 320 192 --no-memory
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from par_studio.constants import LATENCY_SETTINGS_MS, SAMPLE_RATE  # noqa: E402

PRESETS = ("par", "par-compact")


def piano_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Synthetic piano-like audio: random struck harmonic tones (≈ 8 notes/s), 16 kHz mono."""
    rng = np.random.RandomState(seed)
    n = int(seconds * SAMPLE_RATE)
    y = np.zeros(n, np.float32)
    L = int(1.5 * SAMPLE_RATE)
    t = np.arange(L) / SAMPLE_RATE
    env = (1 - np.exp(-t / 0.003)) * np.exp(-t / 0.5)
    for onset in rng.uniform(0, seconds, int(8 * seconds)):
        f0 = 440.0 * 2 ** ((rng.randint(21, 109) - 69) / 12)
        amp = rng.uniform(0.1, 0.6)
        tone = sum(amp / h * np.sin(2 * np.pi * f0 * h * t) for h in range(1, 7) if f0 * h < SAMPLE_RATE / 2)
        a = int(onset * SAMPLE_RATE)
        b = min(n, a + L)
        y[a:b] += (env * tone)[: b - a].astype(np.float32)
    y += 1e-3 * rng.randn(n).astype(np.float32)
    return (0.5 * y / max(1e-9, float(np.abs(y).max()))).astype(np.float32)


def get_model(preset: str, latency: int):
    from par_studio.model import PARModel, preset_config
    from par_studio.model.checkpoint import load_checkpoint, shipped_path

    path = shipped_path(preset, latency)
    if path.exists():
        model, _ = load_checkpoint(path)
        return model, f"shipped ({path.name})"
    import torch

    torch.manual_seed(0)
    return PARModel(preset_config(preset, latency)).eval(), "random init"


def rtf(model, audio: np.ndarray, repeats: int) -> float:
    from par_studio.engine.offline import transcribe

    transcribe(audio[: 2 * SAMPLE_RATE], model)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        transcribe(audio, model)
        best = min(best, time.perf_counter() - t0)
    return best / (len(audio) / SAMPLE_RATE)


def peak_rss_mib() -> float:
    """This process's RSS high-water mark. VmHWM (per address space, reset by exec); not
    ru_maxrss, which Linux carries over from the parent across fork+exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(preset: str, latency: int, wav: str) -> None:
    """Runs in a fresh interpreter: load model, load the WAV, transcribe; print JSON."""
    import torch

    from par_studio.audio.io import load_audio
    from par_studio.engine.offline import transcribe

    model, weights = get_model(preset, latency)
    base = peak_rss_mib()
    t0 = time.perf_counter()
    audio = load_audio(wav)
    tr = transcribe(audio, model)
    dt = time.perf_counter() - t0
    peak = peak_rss_mib()
    print(json.dumps({"preset": preset, "latency": latency, "weights": weights, "baseline_mib": base,
                      "peak_mib": peak, "seconds": dt, "audio_s": len(audio) / SAMPLE_RATE,
                      "notes": len(tr.notes)}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    ap.add_argument("--latencies", nargs="+", type=int, default=list(LATENCY_SETTINGS_MS), choices=LATENCY_SETTINGS_MS)
    ap.add_argument("--seconds", type=float, default=60.0, help="input length for the real-time factor")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per setting (best is kept)")
    ap.add_argument("--memory-minutes", type=float, default=20.0, help="input length for peak memory")
    ap.add_argument("--memory-latency", type=int, default=320, choices=LATENCY_SETTINGS_MS)
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--memory-only", action="store_true", help="skip the real-time-factor table")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on a shared, loaded machine more threads spin-wait)")
    ap.add_argument("--_child", nargs=3, metavar=("PRESET", "LATENCY", "WAV"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args._child:
        memory_child(args._child[0], int(args._child[1]), args._child[2])
        return 0

    from par_studio.model.complexity import macs_per_frame

    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"load average before {tuple(round(x, 2) for x in os.getloadavg())}")
    audio = piano_like(args.seconds) if not args.memory_only else None
    head = f"{'preset':<12} {'look-ahead':>10} {'parameters':>11} {'MACs/frame':>12} {f'RTF ({args.seconds:.0f} s)':>10}  {'load avg':>8}  weights"
    if not args.memory_only:
        print(f"\nreal-time factor = compute seconds / audio seconds of transcribe() over {args.seconds:.0f} s")
        print(head)
        print("-" * len(head))
    for preset in args.presets if not args.memory_only else ():
        for lat in args.latencies:
            model, weights = get_model(preset, lat)
            macs = macs_per_frame(model)["total"]
            r = rtf(model, audio, args.repeats)
            print(f"{preset:<12} {model.latency_ms:>7} ms {model.n_parameters():>11,} {macs:>12,} {r:>10.4f}  "
                  f"{os.getloadavg()[0]:>8.2f}  {weights}", flush=True)

    if not args.memory_only:
        # what a sensitivity change costs in the app: the decoder alone over kept features
        from par_studio.engine.offline import redecode, transcribe

        print(f"\nsensitivity change: full transcribe() vs decoder-only redecode() over {args.seconds:.0f} s "
              "(same run, best of --repeats)")
        for preset in args.presets:
            model, weights = get_model(preset, 320)
            tr = transcribe(audio, model, keep_features=True)
            feats = tr.info["features"]
            full, dec = [], []
            for _ in range(max(1, args.repeats)):
                t0 = time.perf_counter(); transcribe(audio, model, sensitivity=0.2); full.append(time.perf_counter() - t0)
                t0 = time.perf_counter(); redecode(feats, model, 0.2); dec.append(time.perf_counter() - t0)
            print(f"{preset:<12} full {min(full):6.2f} s  decoder only {min(dec):6.2f} s  "
                  f"ratio {min(full) / min(dec):4.1f}x  features kept {feats.nbytes / 2**20:6.1f} MiB")

    if not args.no_memory:
        import soundfile as sf

        minutes = args.memory_minutes
        print(f"\npeak memory (RSS high-water) of a fresh process: load a {minutes:.0f}-minute 16 kHz WAV + "
              f"transcribe, {args.memory_latency} ms models")
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "long.wav"
            with sf.SoundFile(wav, "w", SAMPLE_RATE, 1, subtype="PCM_16") as f:
                for k in range(int(np.ceil(minutes))):  # one minute at a time
                    f.write(piano_like(min(60.0, minutes * 60 - 60 * k), seed=k + 1))
            head = f"{'preset':<12} {'after model load':>16} {'peak':>10} {'compute':>10} {'RTF':>7}  {'load avg':>8}  weights"
            print(head)
            print("-" * len(head))
            for preset in args.presets:
                cmd = [sys.executable, str(Path(__file__).resolve()), "--_child", preset, str(args.memory_latency), str(wav)]
                if args.threads:
                    cmd += ["--threads", str(args.threads)]
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    print(f"{preset:<12} failed: {r.stderr.strip().splitlines()[-1:]}")
                    continue
                d = json.loads(r.stdout.strip().splitlines()[-1])
                print(f"{preset:<12} {d['baseline_mib']:>12.0f} MiB {d['peak_mib']:>6.0f} MiB {d['seconds']:>8.1f} s "
                      f"{d['seconds'] / d['audio_s']:>7.4f}  {os.getloadavg()[0]:>8.2f}  {d['weights']}", flush=True)
    print(f"\nload average after {tuple(round(x, 2) for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
