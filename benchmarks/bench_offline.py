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
    python benchmarks/bench_offline.py --loaded-only      # quiet vs two busy processes, same run

**Busy CPU** (``--loaded``/``--loaded-only``): the bundled example (35 s) transcribed by the
default thread policy (engine/threads.py: decoder on one thread, acoustic network on idle
cores, OpenMP threads passive) on the machine as it is ("quiet") and again while two extra
processes spin at normal priority ("loaded"), alternating, best of ``--repeats``; the ratio
loaded/quiet is the figure (target ≤ 2). ``--old-policy`` adds torch's defaults for contrast
(one thread per core, OpenMP threads spinning), run in a subprocess with a time limit.
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


def spinners(n: int) -> list:
    """``n`` busy processes at normal priority, each in its own session (so in its own
    scheduler autogroup, as another desktop program would be: a browser tab, a DAW, a video
    call). They exit by themselves after 10 minutes should this benchmark be killed."""
    code = "import time\nt = time.monotonic()\nwhile time.monotonic() - t < 600: pass"
    return [subprocess.Popen([sys.executable, "-c", code], start_new_session=True) for _ in range(n)]


LOADED_CHILD = r"""
import sys, time, json
sys.path.insert(0, sys.argv[1])
import torch
from par_studio.audio.io import load_audio
from par_studio.engine.offline import transcribe
from par_studio.model.checkpoint import resolve_model
model, _ = resolve_model(sys.argv[2], int(sys.argv[3]))
audio = load_audio(sys.argv[4])
threads = int(sys.argv[5]) or None
transcribe(audio[:32000], model, threads=threads)
t0 = time.perf_counter()
tr = transcribe(audio, model, threads=threads)
print(json.dumps({"seconds": time.perf_counter() - t0, "notes": len(tr.notes),
                  "torch_threads": torch.get_num_threads()}))
"""


def timed_child(preset: str, latency: int, wav: Path, env: dict, threads: int, limit: float) -> dict | None:
    """Transcribe ``wav`` in a fresh interpreter (own thread pool, own OMP settings)."""
    cmd = [sys.executable, "-c", LOADED_CHILD, str(ROOT), preset, str(latency), str(wav), str(threads)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=limit)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip().splitlines()[-1:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def bench_loaded(presets, repeats: int, old_policy: bool, busy: int = 2) -> None:
    from par_studio.engine.threads import describe

    wav = ROOT / "resources" / "example.flac"
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)  # the product's default (par_studio sets PASSIVE)
    old_env = dict(env, OMP_WAIT_POLICY="ACTIVE")  # torch's own defaults: spin, one thread per core
    cores = len(os.sched_getaffinity(0))
    floor = max(1.0, (busy + 1) / cores)
    print(f"\nbusy CPU: the example (35 s) quiet vs with {busy} extra busy processes, "
          f"fresh process per run, transcribe() only; policy: {describe(None)}\n"
          f"(the scheduler's fair share alone makes the ratio >= {floor:.2f} here: {busy + 1} "
          f"runnable programs on {cores} cores; other programs already running raise it further)")
    head = f"{'preset':<12} {'policy':<22} {'quiet':>8} {'loaded':>8} {'ratio':>6}  load avg"
    print(head)
    print("-" * len(head))
    policies = [("automatic (default)", env, 0)]
    if old_policy:
        policies.append((f"torch default ({os.cpu_count()} thr)", old_env, os.cpu_count()))
    for preset in presets:
        for name, e, threads in policies:
            quiet, loaded = [], []
            for _ in range(max(1, repeats)):
                q = timed_child(preset, 320, wav, e, threads, 600)
                quiet.append(q["seconds"])
                procs = spinners(busy)
                try:
                    time.sleep(1.0)
                    limit = max(120.0, 20 * min(quiet))
                    d = timed_child(preset, 320, wav, e, threads, limit)
                    loaded.append(d["seconds"] if d else float("inf"))
                finally:
                    for p in procs:
                        p.kill()
                        p.wait()
            q, l = min(quiet), min(loaded)
            lt = f"{l:7.1f}s" if l != float("inf") else f">{limit:.0f}s"
            print(f"{preset:<12} {name:<22} {q:7.1f}s {lt:>8} {l / q:6.2f}  {os.getloadavg()[0]:.2f}", flush=True)


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
    ap.add_argument("--loaded", action="store_true", help="add the busy-CPU case (quiet vs loaded)")
    ap.add_argument("--loaded-only", action="store_true", help="only the busy-CPU case")
    ap.add_argument("--old-policy", action="store_true",
                    help="busy-CPU case: also torch's default threads with spinning OpenMP threads")
    ap.add_argument("--_child", nargs=3, metavar=("PRESET", "LATENCY", "WAV"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args._child:
        memory_child(args._child[0], int(args._child[1]), args._child[2])
        return 0

    if args.loaded_only:
        bench_loaded(args.presets, args.repeats, args.old_policy)
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
    if args.loaded:
        bench_loaded(args.presets, args.repeats, args.old_policy)
    print(f"\nload average after {tuple(round(x, 2) for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
