"""Streaming engine benchmark: per-hop compute, real-time factor, end-to-end latency, soak.

    python benchmarks/bench_streaming.py                      # table, both presets, all latencies
    python benchmarks/bench_streaming.py --hops 300 --threads 1
    python benchmarks/bench_streaming.py --soak-minutes 60 --model par-compact

Per-hop compute: the time of one ``engine.push`` of 512 samples (one hop; it emits one frame:
log-mel column, the new CNN columns, heads, one decoder step, note tracking), on non-silent
audio so the silence gate does no work. End-to-end: a simulated capture in 512-sample blocks
(a sample is available when its block is complete); for every sample, the delay from its
arrival to the emission of the frame containing it (frame round(s/512)), using the measured
compute time of the push that emitted that frame. Bound: algorithmic latency + one hop + compute.
Uses shipped weights from models/ when present, else a random-init model (same compute).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from par_studio.constants import HOP_LENGTH, LATENCY_SETTINGS_MS, SAMPLE_RATE  # noqa: E402
from par_studio.engine.streaming import StreamingEngine  # noqa: E402
from par_studio.model import PARModel, preset_config  # noqa: E402
from par_studio.model.checkpoint import load_checkpoint, shipped_path  # noqa: E402


def get_model(preset: str, latency: int):
    path = shipped_path(preset, latency)
    if path.exists():
        return load_checkpoint(path)[0], "shipped"
    torch.manual_seed(0)
    return PARModel(preset_config(preset, latency)).eval(), "random-init"


def test_signal(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    y = 0.01 * rng.standard_normal(len(t))
    for k in range(int(seconds * 4)):
        f, s = rng.uniform(50, 3000), rng.uniform(0, seconds)
        y += 0.2 * (t >= s) * np.exp(-(t - s).clip(0) * 4) * np.sin(2 * np.pi * f * t)
    return y.astype(np.float32)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench(preset: str, latency: int, hops: int) -> dict:
    model, src = get_model(preset, latency)
    eng = StreamingEngine(model, keep_history=False)
    warm = eng.lookahead_samples // HOP_LENGTH + 20
    audio = test_signal((hops + warm + 2) * HOP_LENGTH / SAMPLE_RATE)
    n_blocks = len(audio) // HOP_LENGTH
    comp = np.zeros(n_blocks)
    emitted_by = []  # block index that emitted each frame
    for b in range(n_blocks):
        x = audio[b * HOP_LENGTH: (b + 1) * HOP_LENGTH]
        t0 = time.perf_counter()
        upd = eng.push(x)
        comp[b] = time.perf_counter() - t0
        emitted_by += [b] * upd.n_frames
    steady = comp[warm:]
    emitted_by = np.array(emitted_by)
    # end-to-end over samples whose frame was emitted (after warm-up)
    s = np.arange(warm * HOP_LENGTH, len(emitted_by) * HOP_LENGTH - HOP_LENGTH, 37)
    frame = np.rint(s / HOP_LENGTH).astype(int)
    ok = frame < len(emitted_by)
    s, frame = s[ok], frame[ok]
    arrival = (s // HOP_LENGTH + 1) * HOP_LENGTH / SAMPLE_RATE
    eb = emitted_by[frame]
    emission = (eb + 1) * HOP_LENGTH / SAMPLE_RATE + comp[eb]
    e2e = (emission - arrival) * 1000
    p99 = float(np.percentile(steady, 99) * 1000)
    return {
        "preset": preset, "latency": latency, "weights": src, "median": float(np.median(steady) * 1000),
        "p99": p99, "max": float(steady.max() * 1000),
        "rtf": float(steady.sum() / (len(steady) * HOP_LENGTH / SAMPLE_RATE)),
        "e2e_med": float(np.median(e2e)), "e2e_max": float(e2e.max()),
        "bound": model.latency_ms + 1000 * HOP_LENGTH / SAMPLE_RATE + p99,
        "frames_vs_samples": (eng.frames_emitted, eng.samples_pushed, eng.expected_frames()),
    }


def soak(preset: str, latency: int, minutes: float) -> None:
    from par_studio.audio.live import FileSource

    model, src = get_model(preset, latency)
    eng = StreamingEngine(model, keep_history=False)
    audio = test_signal(60.0, seed=1)
    audio[20 * SAMPLE_RATE: 30 * SAMPLE_RATE] = 0.0  # some digital silence too
    source = FileSource(audio, realtime=False, block=1024, loop_seconds=minutes * 60)
    print(f"soak: {preset} {latency} ms ({src}), {minutes} min of audio at max speed")
    print(f"{'audio min':>9} {'wall s':>8} {'RSS MB':>8} {'notes':>7} {'dropped blocks':>15}")
    print(f"{0:9d} {0.0:8.1f} {rss_mb():8.1f} {0:7d} {0:15d}", flush=True)
    t0 = time.perf_counter()
    source.start()
    minute = 1
    n_notes = 0
    while not source.finished:
        x = source.read(8192)
        if not len(x):
            time.sleep(0.001)
            continue
        upd = eng.push(x)
        n_notes += len(upd.finished)
        if eng.samples_pushed >= minute * 60 * SAMPLE_RATE:
            print(f"{minute:9d} {time.perf_counter() - t0:8.1f} {rss_mb():8.1f} {n_notes:7d} "
                  f"{source.overflows:15d}", flush=True)
            minute += 1
    source.stop()
    eng.finish()
    wall = time.perf_counter() - t0
    print(f"soak done: {eng.samples_pushed / SAMPLE_RATE / 60:.1f} min audio in {wall:.1f} s "
          f"(RTF {wall / (eng.samples_pushed / SAMPLE_RATE):.3f}), frames {eng.frames_emitted}, "
          f"dropped blocks {source.overflows}, steps skipped by the gate {eng.stats['steps_skipped']}, "
          f"gated CNN frames {eng.stats['frames_gated_cnn']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hops", type=int, default=300, help="timed hops per configuration")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--presets", nargs="+", default=["par-compact", "par"])
    ap.add_argument("--latencies", nargs="+", type=int, default=list(LATENCY_SETTINGS_MS))
    ap.add_argument("--soak-minutes", type=float, default=None, help="soak mode instead of the table")
    ap.add_argument("--model", default="par-compact", help="soak: preset")
    ap.add_argument("--latency", type=int, default=320, help="soak: latency")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.soak_minutes:
        soak(args.model, args.latency, args.soak_minutes)
        return 0
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} CPUs, "
          f"{args.hops} hops of {HOP_LENGTH} samples per row")
    hdr = (f"{'model':<11} {'lat ms':>6} {'weights':>11} {'hop med ms':>10} {'hop p99 ms':>10} "
           f"{'hop max':>8} {'RTF':>6} {'e2e med ms':>10} {'e2e max ms':>10} {'bound ms':>8}  frames/samples")
    print(hdr)
    print("-" * len(hdr))
    for preset in args.presets:
        for lat in args.latencies:
            r = bench(preset, lat, args.hops)
            f, n, exp = r["frames_vs_samples"]
            print(f"{preset:<11} {lat:6d} {r['weights']:>11} {r['median']:10.2f} {r['p99']:10.2f} "
                  f"{r['max']:8.2f} {r['rtf']:6.3f} {r['e2e_med']:10.1f} {r['e2e_max']:10.1f} "
                  f"{r['bound']:8.1f}  {f}/{n} (expected {exp})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
