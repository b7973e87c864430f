"""The beat grid on the piano roll: faint beat lines and stronger bar lines under the notes, bar
numbers on the time axis, and a tap-tempo counter.

Shows a :class:`~par_studio.tempo.Meter` (beats in seconds, grouped into bars); it draws
only what is in view, so a long recording costs nothing extra. Without a meter the roll and
its axis are plain seconds.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QLineF, QRectF
from PySide6.QtGui import QColor, QPen

from ..constants import MAX_MIDI, MIN_MIDI
from ..meter import Meter

BEAT_COLOR = QColor(255, 255, 255, 32)  #: beat lines: barely there
BAR_COLOR = QColor(255, 255, 255, 95)  #: bar lines
MIN_BEAT_PX = 6.0  #: beat lines closer than this on screen are left out (bars stay)
MIN_BAR_LABEL_PX = 28.0  #: bar numbers closer than this are thinned (every 2nd, 4th, ...)


def grid_lines(meter: Meter, x0: float, x1: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lines of ``meter`` between ``x0`` and ``x1`` seconds: (beat times (B,), is-bar-line (B,)
    bool, bar number (B,) int, 1 for the bar of the first downbeat, 0 and below before it)."""
    b = np.asarray(meter.beats, np.float64)
    if len(b) == 0:
        return np.zeros(0), np.zeros(0, bool), np.zeros(0, int)
    idx = np.arange(len(b)) - meter.downbeat
    sel = (b >= x0) & (b <= x1)
    per = max(1, meter.beats_per_bar)
    bar = idx[sel] % per == 0
    number = np.floor_divide(idx[sel], per) + 1
    return b[sel], bar, number


class BeatGridItem(pg.GraphicsObject):
    """Vertical beat and bar lines across the roll's pitch range (put it under the notes)."""

    def __init__(self):
        super().__init__()
        self.meter: Meter | None = None
        self.setZValue(-5)  # above the key lanes, below the notes

    def set_meter(self, meter: Meter | None) -> None:
        self.prepareGeometryChange()
        self.meter = meter
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt name)
        if self.meter is None or len(self.meter.beats) == 0:
            return QRectF()
        b = self.meter.beats
        return QRectF(float(b[0]), MIN_MIDI - 0.5, float(b[-1] - b[0]) + 1e-3, MAX_MIDI - MIN_MIDI + 1)

    def paint(self, painter, *args) -> None:
        vb = self.getViewBox()
        if self.meter is None or vb is None:
            return
        (x0, x1), (y0, y1) = vb.viewRange()
        times, bar, _ = grid_lines(self.meter, x0, x1)
        if not len(times):
            return
        width_px = max(vb.width(), 1.0)
        beat_px = width_px * (60.0 / max(self.meter.beat_bpm, 1e-6)) / max(x1 - x0, 1e-9)
        for is_bar, color in ((False, BEAT_COLOR), (True, BAR_COLOR)):
            if not is_bar and beat_px < MIN_BEAT_PX:
                continue
            pen = QPen(color)
            pen.setCosmetic(True)
            pen.setWidthF(1.0)
            painter.setPen(pen)
            ts = times[bar == is_bar]
            painter.drawLines([QLineF(t, y0, t, y1) for t in ts])


class BarTimeAxis(pg.AxisItem):
    """The time axis: seconds, or with a meter bar numbers at the bar lines (beats as minor
    ticks)."""

    def __init__(self, orientation: str = "bottom", **kw):
        super().__init__(orientation, **kw)
        self.meter: Meter | None = None

    def set_meter(self, meter: Meter | None) -> None:
        self.meter = meter
        self.setLabel("bar" if meter is not None else "time", units=None if meter is not None else "s")
        self.picture = None
        self.update()

    def tickValues(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph names)
        if self.meter is None:
            return super().tickValues(minVal, maxVal, size)
        times, bar, number = grid_lines(self.meter, minVal, maxVal)
        bars = times[bar]
        if not len(bars):
            return super().tickValues(minVal, maxVal, size)
        span = max(maxVal - minVal, 1e-9)
        bar_px = size * (self.meter.bar_quarters * 60.0 / self.meter.quarter_bpm) / span
        every = 1
        while bar_px * every < MIN_BAR_LABEL_PX:
            every *= 2
        nums = number[bar]
        major = [float(t) for t, n in zip(bars, nums) if (n - 1) % every == 0]
        minor = [float(t) for t in times] if bar_px / self.meter.beats_per_bar >= MIN_BEAT_PX else []
        return [(0.0, major), (0.0, minor)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802
        if self.meter is None:
            return super().tickStrings(values, scale, spacing)
        b = np.asarray(self.meter.beats)
        out = []
        for v in values:
            i = int(np.argmin(np.abs(b - v))) if len(b) else 0
            k = i - self.meter.downbeat
            out.append(str(k // self.meter.beats_per_bar + 1) if k % self.meter.beats_per_bar == 0 else "")
        return out


class TapTempo:
    """Tempo from taps (seconds, e.g. ``time.monotonic()``): the median interval of the taps
    since the last pause longer than ``reset_s``; None until ``min_taps`` taps."""

    def __init__(self, reset_s: float = 2.0, min_taps: int = 4):
        self.reset_s, self.min_taps = reset_s, min_taps
        self.taps: list[float] = []

    def tap(self, t: float) -> float | None:
        if self.taps and t - self.taps[-1] > self.reset_s:
            self.taps = []
        self.taps.append(float(t))
        self.taps = self.taps[-16:]
        if len(self.taps) < self.min_taps:
            return None
        bpm = 60.0 / float(np.median(np.diff(self.taps)))
        return round(bpm, 1) if 20.0 <= bpm <= 400.0 else None
