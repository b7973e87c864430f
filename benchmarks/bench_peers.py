#!/usr/bin/env python3
"""PAR Studio against its peers, side by side in one run: the same files, each tool in a fresh
process on one CPU core, audio file in → MIDI file out (the whole process: imports, model
load, audio decoding, inference, note decoding, MIDI writing).

Prints for every file and tool: wall time, CPU time (user + system), real-time factors
(seconds per audio second), peak memory (the process's RSS high-water mark, VmHWM) and the
ratios PAR / peer. Runs alternate (tool A, tool B, A, B, ...) and the best of ``--repeats``
is kept, so a change in the machine's load hits every tool alike.

Peers, when installed (in any Python; ``--peer-python`` points at it, e.g. a separate venv so
the main environment's torch and numpy stay as they are):

* **basic-pitch** (Spotify, ICASSP 2022) with its ONNX backend:
  ``python3 -m venv --system-site-packages .peers-venv`` (in the checkout; the default of
  ``--peer-python``, or set ``PAR_PEER_PYTHON``), then
  ``.peers-venv/bin/pip install --no-deps basic-pitch && .peers-venv/bin/pip install onnxruntime resampy``
* **transkun** (Yan & Duan 2024): ``pip install --no-deps transkun moduleconf ncls pydub`` —
  it needs torchaudio, which exists for torch ≤ 2.11 only; reported as unavailable otherwise.

``--check`` also compares PAR's notes with the frame-by-frame reference decoder (today's
engine before the fast loop: ``run_decoder(reference=True)``, 1,024-frame chunks): exact
equality and mir_eval note F1 (onset + offset) on every file.

    python benchmarks/bench_peers.py                        # the example + a 120 s file
    python benchmarks/bench_peers.py --check --repeats 2
    python benchmarks/bench_peers.py --hour --tools par     # + PAR's peak memory for one hour
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EXAMPLE = ROOT / "resources" / "example.flac"
DEFAULT_PEER_PYTHON = os.environ.get(
    "PAR_PEER_PYTHON", str(ROOT / ".peers-venv" / "bin" / "python"))

#: Runs in a fresh interpreter: pin to one core, run one tool on one file, print JSON.
CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core for every tool
tool, wav, out, root = sys.argv[1:5]
if tool.startswith("par"):
    sys.path.insert(0, root)
    from par_studio.cli import main
    extra = ["--tempo", "120"] if tool == "par-fixed-tempo" else []
    code = main(["transcribe", wav, "-o", out, "--model", "par-compact", "--latency", "320", "-q", *extra])
    import pretty_midi
    notes = sum(len(i.notes) for i in pretty_midi.PrettyMIDI(out).instruments) if code == 0 else -1
elif tool == "basic-pitch":
    import logging
    logging.disable(logging.WARNING)  # "TF/CoreML/TFLite not installed" notes
    from basic_pitch import FilenameSuffix, build_icassp_2022_model_path
    from basic_pitch.inference import predict
    _, midi, events = predict(wav, build_icassp_2022_model_path(FilenameSuffix.onnx))
    midi.write(out)
    notes = len(events)
elif tool == "transkun":
    import subprocess
    r = subprocess.run([sys.executable, "-m", "transkun.transcribe", wav, out, "--device", "cpu"])
    import pretty_midi
    notes = sum(len(i.notes) for i in pretty_midi.PrettyMIDI(out).instruments) if r.returncode == 0 else -1
hwm = next(int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
ru = os.times()
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": ru.user + ru.system + ru.children_user
                  + ru.children_system, "peak_mib": hwm, "notes": notes}))
"""

#: Each tool's check that it is installed: (python, import statement).
PROBES = {
    "basic-pitch": "import onnxruntime, basic_pitch.inference",
    "transkun": "import transkun.transcribe, torchaudio",
}


def available(tool: str, python: str) -> tuple[bool, str]:
    if tool.startswith("par"):
        return True, ""
    if not Path(python).exists():
        return False, f"no Python at {python}"
    r = subprocess.run([python, "-c", PROBES[tool]], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["?"])[-1]
        return False, last[:120]
    return True, ""


def run_tool(tool: str, python: str, wav: Path, tmp: Path, limit: float) -> dict | None:
    out = tmp / f"{tool}-{wav.stem}.mid"
    out.unlink(missing_ok=True)
    env = dict(os.environ)
    r = subprocess.run([python, "-c", CHILD, tool, str(wav), str(out), str(ROOT)], capture_output=True,
                       text=True, timeout=limit, env=env)
    if r.returncode != 0 or not r.stdout.strip():
        print(f"  {tool} on {wav.name} failed: {(r.stderr.strip().splitlines() or ['?'])[-1][:160]}")
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def make_file(tmp: Path, seconds: float) -> Path:
    """The bundled example (35 s of piano) repeated to ``seconds``, 16 kHz PCM WAV."""
    import soundfile as sf

    from par_studio.audio.io import load_audio

    a = load_audio(EXAMPLE)
    n = int(seconds * 16000)
    path = tmp / f"example_{seconds:.0f}s.wav"
    with sf.SoundFile(path, "w", 16000, 1, subtype="PCM_16") as f:
        for k in range(0, n, len(a)):
            f.write(a[: min(len(a), n - k)])
    return path


def check_notes(files: list[Path]) -> None:
    """The product path against the frame-by-frame reference decoder on the same weights."""
    import mir_eval
    import torch

    from par_studio.audio.io import load_audio
    from par_studio.engine.offline import acoustic_chunks, transcribe
    from par_studio.features import n_frames
    from par_studio.model.checkpoint import resolve_model
    from par_studio.notes import decode

    torch.set_num_threads(1)
    print("\nnotes of the fast engine vs the frame-by-frame reference decoder (1,024-frame chunks), "
          "PARcompact 320 ms, shipped weights")
    model, _ = resolve_model("par-compact", 320)
    for wav in files:
        audio = load_audio(wav)
        fast = transcribe(audio, model).notes
        T = n_frames(len(audio))
        states = np.zeros((T, 88), np.uint8)
        vels = np.zeros((T, 88), np.float32)
        ar = None
        with torch.inference_mode():
            for a, feat, vfeat in acoustic_chunks(model, torch.from_numpy(audio), 1024):
                s, _, v, ar = model.run_decoder(feat, vfeat, ar, 0.0, reference=True)
                states[a:a + len(s)], vels[a:a + len(s)] = s.numpy(), v.numpy()
        ref = decode(states, vels, offset_shift=model.cfg.offset_shift_s)

        def iv(n):
            return np.stack([n.onset, n.offset], 1), 440.0 * 2 ** ((n.pitch - 69) / 12)

        (ri, rp), (fi, fp) = iv(ref), iv(fast)
        f_on = mir_eval.transcription.precision_recall_f1_overlap(ri, rp, fi, fp, offset_ratio=None)[2]
        f_off = mir_eval.transcription.precision_recall_f1_overlap(ri, rp, fi, fp)[2]
        print(f"{wav.name:<22} reference {len(ref):5d} notes, fast {len(fast):5d}; identical: "
              f"{fast.equals(ref)}; note F1 {f_on:.4f}, note+offset F1 {f_off:.4f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tools", nargs="+", default=["par", "par-fixed-tempo", "basic-pitch", "transkun"],
                    choices=["par", "par-fixed-tempo", "basic-pitch", "transkun"],
                    help="par: `par-studio transcribe` as shipped (tempo detected: imports librosa); "
                         "par-fixed-tempo: the same with --tempo 120")
    ap.add_argument("--files", nargs="*", type=Path, help="audio files (default: the example and 120 s)")
    ap.add_argument("--seconds", type=float, default=120.0, help="length of the long default file")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--peer-python", default=DEFAULT_PEER_PYTHON)
    ap.add_argument("--check", action="store_true", help="compare notes with the reference decoder")
    ap.add_argument("--hour", action="store_true", help="also a one-hour file (PAR tools only)")
    args = ap.parse_args(argv)

    print(f"machine: {os.cpu_count()} CPUs, load average {tuple(round(x, 2) for x in os.getloadavg())}; "
          "every tool pinned to one core, fresh process per run, best of", args.repeats)
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        files = args.files or [EXAMPLE, make_file(tmp, args.seconds)]
        tools = []
        for tool in args.tools:
            python = sys.executable if tool.startswith("par") else args.peer_python
            ok, why = available(tool, python)
            if ok:
                tools.append((tool, python))
            else:
                print(f"{tool}: not available ({why})")
        results: dict = {}
        for wav in files:
            import soundfile as sf

            dur = sf.info(str(wav)).duration
            for _ in range(max(1, args.repeats)):
                for tool, python in tools:
                    d = run_tool(tool, python, wav, tmp, limit=max(600.0, 5 * dur))
                    if d is None:
                        continue
                    best = results.setdefault((wav.name, tool), dict(d, audio=dur))
                    for k in ("wall", "cpu", "peak_mib"):
                        best[k] = min(best[k], d[k])
        if args.hour:
            wav = make_file(tmp, 3600.0)
            for tool, python in tools:
                if tool.startswith("par"):
                    d = run_tool(tool, python, wav, tmp, limit=7200)
                    if d:
                        results[(wav.name, tool)] = dict(d, audio=3600.0)
            files = list(files) + [wav]

        head = (f"{'file':<22} {'tool':<16} {'audio':>6} {'wall':>7} {'CPU':>7} {'RTF wall':>8} "
                f"{'RTF CPU':>8} {'peak MiB':>9} {'notes':>6}")
        print("\n" + head)
        print("-" * len(head))
        for wav in files:
            for tool, _ in tools:
                d = results.get((wav.name, tool))
                if d:
                    print(f"{wav.name:<22} {tool:<16} {d['audio']:5.0f}s {d['wall']:6.1f}s {d['cpu']:6.1f}s "
                          f"{d['wall'] / d['audio']:8.3f} {d['cpu'] / d['audio']:8.3f} {d['peak_mib']:9.0f} "
                          f"{d['notes']:6d}")
        peers = [t for t, _ in tools if not t.startswith("par")]
        if peers:
            print("\nratios PAR / peer (below 1: PAR uses less)")
            for wav in files:
                for par in (t for t, _ in tools if t.startswith("par")):
                    for peer in peers:
                        a, b = results.get((wav.name, par)), results.get((wav.name, peer))
                        if a and b:
                            print(f"{wav.name:<22} {par:<16} / {peer:<12} wall {a['wall'] / b['wall']:5.2f}  "
                                  f"CPU {a['cpu'] / b['cpu']:5.2f}  peak memory {a['peak_mib'] / b['peak_mib']:5.2f}")
        if args.check:
            check_notes([f for f in files if "3600" not in f.name])
    print(f"\nload average after {tuple(round(x, 2) for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
