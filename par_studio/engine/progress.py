"""Progress of a long job as a fraction and the time left, shared by the command line and the GUI.

The engine calls ``progress(fraction)`` (0..1) as the decoder goes — at most every
:data:`REPORT_INTERVAL_S` seconds of work and at least once per :data:`REPORT_EVERY_FRAMES`
decoded frames — and :class:`ProgressClock` turns those calls into seconds left.
"""

from __future__ import annotations

import time

#: Seconds of work between two progress reports (the GUI redraws its bar at this rate).
REPORT_INTERVAL_S = 0.1
#: The decoder looks at the clock every this many frames (≈ 20–60 ms of work each).
REPORT_EVERY_FRAMES = 16


class Throttle:
    """Passes on ``report(fraction)`` calls at most every ``interval`` seconds (and always the
    final 1.0), so a fast loop can report freely."""

    def __init__(self, report, interval: float = REPORT_INTERVAL_S, clock=time.monotonic):
        self.report, self.interval, self.clock = report, interval, clock
        self.last = -float("inf")

    def __call__(self, fraction: float) -> None:
        now = self.clock()
        if fraction >= 1.0 or now - self.last >= self.interval:
            self.last = now
            self.report(min(1.0, max(0.0, fraction)))


class ProgressClock:
    """Time left from the pace since the first report: (now − t₁) × (1 − f) / (f − f₁), where
    (t₁, f₁) is the first report, so time spent before the work started (loading the model,
    the first acoustic chunk) does not inflate the estimate; None until there is enough to go on
    (≥ 0.5 s and ≥ 1 % since the first report). ``start`` resets the clock."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.start()

    def start(self) -> None:
        self.t0 = self.clock()
        self.first: tuple[float, float] | None = None
        self.fraction = 0.0

    def update(self, fraction: float) -> float | None:
        """Record ``fraction`` done; return the estimated seconds left (None: too early)."""
        if self.first is None:
            self.first = (self.clock(), fraction)
        self.fraction = fraction
        return self.seconds_left()

    def seconds_left(self) -> float | None:
        f = self.fraction
        if f >= 1.0:
            return 0.0
        if self.first is None:
            return None
        t1, f1 = self.first
        elapsed = self.clock() - t1
        if f - f1 < 0.01 or elapsed < 0.5:
            return None
        return elapsed * (1.0 - f) / (f - f1)


def format_left(seconds: float | None) -> str:
    """"12 s left", "3 min 05 s left", or "" when unknown."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s left"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s left"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min left"
