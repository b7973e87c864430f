"""How many CPU threads the model uses, so that a transcription degrades gracefully on a busy
computer (a browser, a DAW or a video call on the same cores).

Measured on a 2-core machine with two other busy processes (benchmarks/bench_offline.py
``--loaded``): torch's default (one thread per core, OpenMP threads spin-waiting between ops)
made the 35 s example take 29–84 s instead of 6.7 s, because every one of the decoder's
~30 small ops per frame waits at a barrier for a thread the kernel has descheduled. So:

* the autoregressive decoder always runs on **one** thread: its per-frame ops (88 keys ×
  48–64 hidden units) are far too small to share, more threads only add barriers;
* the acoustic network (a convolution over a chunk of ~16 s) uses the cores that are idle
  now — ``len(os.sched_getaffinity(0))`` minus the 1-minute load average, at most
  :data:`MAX_ACOUSTIC_THREADS`, at least one — re-read for every chunk;
* OpenMP threads sleep instead of spinning when idle (``OMP_WAIT_POLICY=PASSIVE``, set in
  :mod:`par_studio` before torch is imported, unless the user set it).

A user setting (``--threads N`` on the command line, Settings → Threads in the app) fixes the
acoustic network's thread count instead; 0 or None means automatic.
"""

from __future__ import annotations

import contextlib
import os

#: The acoustic network scales poorly past this many threads for one ~16 s chunk.
MAX_ACOUSTIC_THREADS = 4


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under taskset or a container)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def idle_cores() -> float:
    """Cores not busy with other work now: usable cores minus the 1-minute load average (which
    counts this process too, so it errs towards fewer threads)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    return usable_cores() - load


def acoustic_threads(requested: int | None = None) -> int:
    """Threads for the acoustic network: ``requested`` when given (> 0), else automatic."""
    if requested:
        return max(1, int(requested))
    return int(max(1, min(MAX_ACOUSTIC_THREADS, usable_cores(), int(idle_cores()))))


def describe(requested: int | None = None) -> str:
    """One line for logs and the status bar."""
    mode = f"{requested} (set)" if requested else "automatic"
    return (f"acoustic network {acoustic_threads(requested)} thread(s) ({mode}; "
            f"{usable_cores()} cores, load {os.getloadavg()[0]:.1f}), decoder 1 thread")


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the body with torch's intra-op thread count set to ``n`` (restored after)."""
    import torch

    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
