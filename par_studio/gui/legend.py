"""The velocity colour legend: one swatch per velocity bin of the piano roll, soft → loud.

Drawn from :func:`theme.velocity_colors` and :func:`theme.velocity_bin`, the very functions
the roll colours its notes with, so the legend cannot disagree with what is drawn.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QWidget

from . import theme


def bin_ranges(n_bins: int = theme.N_VELOCITY_BINS) -> list[tuple[int, int]]:
    """(lowest, highest) MIDI velocity of each colour bin, from theme.velocity_bin itself."""
    v = np.arange(1, 128)
    b = theme.velocity_bin(v, n_bins)
    return [(int(v[b == i].min()), int(v[b == i].max())) for i in range(n_bins)]


class VelocityLegend(QWidget):
    """A strip of the velocity colours with "velocity 1" and "127" at its ends; the tooltip lists
    the range of each colour."""

    SWATCH = 14

    def __init__(self, parent=None):
        super().__init__(parent)
        self.colors = theme.velocity_colors()
        self.ranges = bin_ranges(len(self.colors))
        self.setToolTip("Note colour = velocity (how hard the key was struck):\n" + "\n".join(
            f"  {lo}–{hi}" for lo, hi in self.ranges) + "\nThe same colours are used in the velocity lane.")

    def sizeHint(self) -> QSize:  # noqa: N802
        fm = self.fontMetrics()
        return QSize(fm.horizontalAdvance("velocity 1 ") + fm.horizontalAdvance(" 127") +
                     self.SWATCH * len(self.colors) + 8, max(fm.height(), self.SWATCH) + 4)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return self.sizeHint()

    def paintEvent(self, ev):  # noqa: N802
        p = QPainter(self)
        fm = self.fontMetrics()
        h = self.height()
        left = "velocity 1"
        x = 0
        p.setPen(QColor(theme.MUTED))
        p.drawText(QRectF(0, 0, fm.horizontalAdvance(left), h), Qt.AlignVCenter | Qt.AlignLeft, left)
        x = fm.horizontalAdvance(left + " ")
        y = (h - self.SWATCH) / 2
        for c in self.colors:
            p.fillRect(QRectF(x, y, self.SWATCH, self.SWATCH), c)
            x += self.SWATCH
        p.drawText(QRectF(x + 2, 0, fm.horizontalAdvance(" 127") + 4, h), Qt.AlignVCenter | Qt.AlignLeft, "127")
        p.end()
