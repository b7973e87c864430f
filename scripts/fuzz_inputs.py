#!/usr/bin/env python3
"""The longer fuzz run of issue 17: generated bad, odd and hostile inputs through the command
line (`par-studio transcribe`, file by file and as one batch) and through the desktop app's
open path (headless, QT_QPA_PLATFORM=offscreen), then a count of what happened.

    nice -n 10 python scripts/fuzz_inputs.py [--n 160] [--seed 0] [--no-gui] [--model par-compact]

Inputs (all generated in a temp folder, removed at the end): the hostile WAV headers of
tests/fuzzgen.py, WAVs with random header fields (rate, channels, bits, block align, data
size), good WAV/FLAC/OGG/MP3 files with random bytes flipped or cut at random points, random
bytes under audio names, empty files, a named pipe, broken links and link loops, non-UTF-8
and 240-byte names, audio named .mid, and same-stem pairs (a.wav + a.flac).

Prints: inputs tried, transcribed, clear errors (one ``error:`` line naming the file),
tracebacks (must be 0: an exception escaping the CLI, a "Traceback" on stderr, or a GUI job
failing with "Something went wrong"), data loss (must be 0: an input changed, or two inputs
of one run written to the same output, or a reported output missing) and the process's peak
memory (resident set size) against its size after the model was loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import fuzzgen  # noqa: E402
from par_studio.names import shown  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def random_wav(rng: random.Random) -> bytes:
    """A WAV whose header fields are drawn from real and impossible values alike."""
    rate = rng.choice([1, 8, 999, 1000, 8000, 16000, 44100, 48000, 96000, 192000, 768000, 768001,
                       2**31, 4_000_000_000])
    channels = rng.choice([0, 1, 1, 2, 2, 6, 64, 65, 255, 65535])
    bits = rng.choice([7, 8, 13, 16, 16, 24, 32, 64])
    align = rng.choice([None, None, 0, 1, 3, 65535])
    payload = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 2, 240, 4000, 32000])))
    data_bytes = rng.choice([None, None, 0, 10**9, 0xFFFFFFFF])
    tag = rng.choice([1, 1, 3, 6, 0xFFFE, 85])
    return fuzzgen.wav_header(rate, channels, bits, align, data_bytes, payload, tag)


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    how = rng.choice(["flip", "cut", "flip+cut", "zero-head"])
    if "flip" in how:
        for _ in range(rng.randint(1, 40)):
            i = rng.randrange(len(b))
            b[i] = rng.getrandbits(8)
    if "cut" in how:
        b = b[: rng.randint(1, len(b))]
    if how == "zero-head":
        b[: min(len(b), 64)] = bytes(min(len(b), 64))
    return bytes(b)


def make_inputs(folder: Path, n: int, rng: random.Random) -> list[Path]:
    folder.mkdir(parents=True)
    made: list[Path] = []
    for kind in fuzzgen.HOSTILE_WAVS:
        made.append(fuzzgen.hostile_wav(folder / f"hostile-{kind}.wav", kind))
    goods = {}
    for fmt in ("WAV", "FLAC", "OGG", "MP3"):
        goods[fmt] = fuzzgen.good_as(folder / f"good.{fmt.lower()}", fmt, seconds=1.5)
        made.append(goods[fmt])
    fuzzgen.good_wav(folder / "pair.wav")
    fuzzgen.good_as(folder / "pair.flac", "FLAC")
    take = fuzzgen.good_wav(folder / "take.wav").rename(folder / "take.mid")
    made += [folder / "pair.wav", folder / "pair.flac", take]
    (folder / "empty.wav").write_bytes(b"")
    made.append(folder / "empty.wav")
    made.append(fuzzgen.fifo(folder / "pipe.wav"))
    (folder / "dangling.wav").symlink_to(folder / "gone.wav")
    (folder / "loop.mp3").symlink_to(folder / "loop.mp3")
    made += [folder / "dangling.wav", folder / "loop.mp3"]
    made.append(fuzzgen.good_wav(folder / ("é" * 118 + ".wav")))
    raw = os.path.join(os.fsencode(folder), b"caf\xe9-\xff.wav")
    made.append(fuzzgen.good_wav(os.fsdecode(raw)))
    i = 0
    while len(made) < n:
        i += 1
        r = rng.random()
        if r < 0.35:
            p = folder / f"rand-header-{i}.wav"
            p.write_bytes(random_wav(rng))
        elif r < 0.8:
            fmt = rng.choice(list(goods))
            p = folder / f"mutated-{i}.{fmt.lower()}"
            p.write_bytes(mutate(goods[fmt].read_bytes(), rng))
        else:
            ext = rng.choice([".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aiff"])
            p = fuzzgen.random_bytes(folder / f"random-{i}{ext}", rng.choice([1, 12, 44, 400, 5000]), seed=i)
        made.append(p)
    return made


def snapshot(folder: Path) -> dict:
    """Hash of every regular file under ``folder`` (links, pipes skipped)."""
    out = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            p = os.path.join(dirpath, name)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            with open(p, "rb") as fh:
                out[p] = hashlib.sha1(fh.read()).hexdigest()
    return out


class Counts(dict):
    def add(self, key, n=1):
        self[key] = self.get(key, 0) + n


def run_cli(argv: list[str], counts: Counts, tag: str) -> tuple[int, str]:
    from par_studio.cli import main

    err = io.StringIO()
    out = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    except BaseException as exc:  # escaped: the user would see a traceback
        counts.add("tracebacks")
        print(f"  TRACEBACK {tag}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 99, err.getvalue()
    text = err.getvalue()
    if "Traceback" in text:
        counts.add("tracebacks")
        print(f"  TRACEBACK on stderr {tag}", file=sys.stderr)
    return code, text


def cli_phase(inputs: list[Path], folder: Path, model: str, counts: Counts) -> None:
    before = snapshot(folder)
    out_root = folder.parent / "out-each"
    for k, path in enumerate(inputs):
        counts.add("inputs tried")
        out = out_root / str(k)
        code, err = run_cli(["transcribe", str(path), "-o", str(out) + "/", "--model", model, "-q"],
                            counts, repr(path.name))
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        if code == 0:
            mids = list(out.glob("*.mid")) if out.is_dir() else []
            if len(mids) != 1:
                counts.add("data loss")
                print(f"  LOSS {path.name!r}: exit 0 but {len(mids)} MIDI files", file=sys.stderr)
            counts.add("transcribed")
        elif errors and any(shown(path.name)[:20] in line for line in errors):
            counts.add("clear errors")
        elif code != 99:
            counts.add("unclear errors")
            print(f"  UNCLEAR {path.name!r}: exit {code}: {err.strip()[:300]}", file=sys.stderr)
        if "warning:" in err:
            counts.add("warnings (truncated)")
    # one batch over the whole folder, beside the inputs: no input changed, no output shared
    code, err = run_cli(["transcribe", str(folder), "--model", model, "-q"], counts, "batch")
    counts.add("batch runs")
    after = snapshot(folder)
    changed = [p for p, h in before.items() if after.get(p) != h]
    if changed:
        counts.add("data loss", len(changed))
        print(f"  LOSS: inputs changed by the batch: {changed[:5]}", file=sys.stderr)
    written = [line.split("→ ", 1)[1] for line in err.splitlines() if "→ " in line]
    new_mids = [p for p in after if p not in before and p.endswith(".mid")]
    done = int(err.split("done: ", 1)[1].split(" transcribed")[0]) if "done: " in err else -1
    if done != len(new_mids):
        counts.add("data loss", abs(done - len(new_mids)))
        print(f"  LOSS: batch says {done} transcribed, {len(new_mids)} new MIDI files", file=sys.stderr)
    counts["batch transcribed"] = done
    del written


def gui_phase(inputs: list[Path], folder: Path, counts: Counts) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["PAR_STUDIO_LOG_DIR"] = str(folder.parent / "logs")
    from PySide6.QtWidgets import QApplication

    from par_studio.gui.main_window import MainWindow, ensure_app, make_settings

    app = ensure_app()
    win = MainWindow(make_settings(str(folder.parent / "gui.ini")))
    errors: list[str] = []
    win.sigError.connect(errors.append)
    win._error_box = None
    for path in inputs:
        counts.add("gui inputs tried")
        n_err = len(errors)
        win.loaded = None
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            win.open_file(str(path), transcribe=False)
            t0 = time.time()
            while time.time() - t0 < 20:
                app.processEvents()
                if len(errors) > n_err or (win.loaded is not None and win.job is None):
                    break
                time.sleep(0.005)
        if "Traceback" in err.getvalue():
            counts.add("tracebacks")
            print(f"  GUI TRACEBACK {path.name!r}:\n{err.getvalue()[-1500:]}", file=sys.stderr)
        if len(errors) > n_err:
            msg = errors[-1]
            if msg.startswith("Something went wrong") or "went wrong" in msg:
                counts.add("tracebacks")
                print(f"  GUI UNPLANNED {path.name!r}: {msg[:200]}", file=sys.stderr)
            elif shown(path.name)[:20] in msg:
                counts.add("gui clear errors")
            else:
                counts.add("gui unclear errors")
                print(f"  GUI UNCLEAR {path.name!r}: {msg[:200]}", file=sys.stderr)
            if win._error_box is not None:
                win._error_box.close()
        elif win.loaded is not None:
            counts.add("gui opened")
        else:
            counts.add("gui timeouts")
            print(f"  GUI TIMEOUT {path.name!r}", file=sys.stderr)
    win.shutdown()
    del QApplication


def decode_phase(folder: Path, minutes: float) -> tuple[float, float, float]:
    """Decode a long 96 kHz 6-channel WAV written block by block; returns (file MB, 16 kHz
    output MB, peak numpy/Python heap MB during load_audio, measured by tracemalloc)."""
    import tracemalloc

    import numpy as np
    import soundfile as sf

    from par_studio.audio.io import load_audio

    path = folder.parent / "long-96k-6ch.wav"
    sr, ch = 96000, 6
    block = fuzzgen.tone(10.0, sr)
    with sf.SoundFile(path, "w", sr, ch, subtype="PCM_16") as f:
        for _ in range(int(minutes * 6)):
            f.write(np.repeat(block[:, None], ch, axis=1))
    tracemalloc.start()
    y = load_audio(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    size = path.stat().st_size / 2**20
    path.unlink()
    return size, y.nbytes / 2**20, peak / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=160, help="number of generated inputs (>= 100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="par-compact")
    ap.add_argument("--no-gui", action="store_true")
    ap.add_argument("--decode-minutes", type=float, default=5.0,
                    help="length of the long 96 kHz 6-channel WAV whose decoding memory is measured")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    counts = Counts()
    with tempfile.TemporaryDirectory(prefix="par-fuzz-") as tmp:
        os.environ["XDG_DATA_HOME"] = str(Path(tmp) / "data-home")
        folder = Path(tmp) / "in"
        inputs = make_inputs(folder, args.n, rng)
        from par_studio.model.checkpoint import resolve_model

        import torch

        torch.set_num_threads(1)
        resolve_model(args.model)
        base = peak_rss_mb()
        t0 = time.time()
        cli_phase(inputs, folder, args.model, counts)
        if not args.no_gui:
            gui_phase(inputs, folder, counts)
        wall = time.time() - t0
        long_mb, out_mb, heap_mb = decode_phase(folder, args.decode_minutes)
    peak = peak_rss_mb()
    print(f"inputs tried:        {counts.get('inputs tried', 0)} (CLI, one by one) + 1 batch of all; "
          f"{counts.get('gui inputs tried', 0)} through the GUI open path")
    print(f"transcribed:         {counts.get('transcribed', 0)} one by one, {counts.get('batch transcribed', 0)} in the batch")
    print(f"clear errors:        {counts.get('clear errors', 0)} CLI, {counts.get('gui clear errors', 0)} GUI "
          f"(unclear: {counts.get('unclear errors', 0)} CLI, {counts.get('gui unclear errors', 0)} GUI)")
    print(f"truncation warnings: {counts.get('warnings (truncated)', 0)}")
    print(f"GUI opened:          {counts.get('gui opened', 0)} (timeouts {counts.get('gui timeouts', 0)})")
    print(f"tracebacks:          {counts.get('tracebacks', 0)}")
    print(f"data loss:           {counts.get('data loss', 0)}")
    print(f"peak memory:         {peak:.0f} MB resident (after loading the model: {base:.0f} MB; "
          f"+{peak - base:.0f} MB over {wall:.0f} s)")
    print(f"bounded decode:      a {args.decode_minutes:g}-minute 96 kHz 6-channel WAV ({long_mb:.0f} MB) "
          f"decoded with a peak heap of {heap_mb:.0f} MB ({out_mb:.0f} MB of it the 16 kHz result)")
    return 1 if counts.get("tracebacks", 0) or counts.get("data loss", 0) else 0


if __name__ == "__main__":
    sys.exit(main())
