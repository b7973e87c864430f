"""Dark Fusion theme and the colour maps the views share."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

BACKGROUND = "#1b1d22"
PANEL = "#24272e"
GRID = "#2c3038"
TEXT = "#d7dae0"
MUTED = "#8a909c"
ACCENT = "#4fa3ff"
PLAYHEAD = "#ffffff"
SELECTION = "#ffffff"  #: outline of selected notes
WARNING_BG = "#4a3b12"
WARNING_FG = "#ffd479"

#: Velocity colour stops, soft → loud (blue, teal, green, yellow, orange, red).
VELOCITY_STOPS = ["#3b6fd8", "#35b7c9", "#69cf5a", "#f2c230", "#f07b2a", "#e8384f"]
#: Notes are drawn in this many velocity bins (one BarGraphItem each).
N_VELOCITY_BINS = 8


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style with a dark palette (consistent on every platform)."""
    app.setStyle("Fusion")
    p = QPalette()
    bg, base, text = QColor(BACKGROUND), QColor("#15171b"), QColor(TEXT)
    p.setColor(QPalette.Window, QColor(PANEL))
    p.setColor(QPalette.WindowText, text)
    p.setColor(QPalette.Base, base)
    p.setColor(QPalette.AlternateBase, bg)
    p.setColor(QPalette.ToolTipBase, QColor("#30343c"))
    p.setColor(QPalette.ToolTipText, text)
    p.setColor(QPalette.Text, text)
    p.setColor(QPalette.Button, QColor("#2d3139"))
    p.setColor(QPalette.ButtonText, text)
    p.setColor(QPalette.BrightText, QColor("#ff6b6b"))
    p.setColor(QPalette.Link, QColor(ACCENT))
    p.setColor(QPalette.Highlight, QColor(ACCENT))
    p.setColor(QPalette.HighlightedText, QColor("#0b0d10"))
    p.setColor(QPalette.PlaceholderText, QColor(MUTED))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        p.setColor(QPalette.Disabled, role, QColor("#656b76"))
    app.setPalette(p)
    app.setStyleSheet(
        "QToolBar { border: none; spacing: 6px; padding: 3px; }"
        "QStatusBar QLabel { padding: 0 6px; }"
        "QToolTip { border: 1px solid #3a3f48; }"
    )


def _interp(stops: list[str], x: np.ndarray) -> np.ndarray:
    cols = np.array([QColor(s).getRgb()[:3] for s in stops], np.float64)
    pos = np.linspace(0.0, 1.0, len(stops))
    return np.stack([np.interp(x, pos, cols[:, c]) for c in range(3)], axis=-1)


def velocity_colors(n_bins: int = N_VELOCITY_BINS) -> list[QColor]:
    """One colour per velocity bin, soft → loud."""
    rgb = _interp(VELOCITY_STOPS, (np.arange(n_bins) + 0.5) / n_bins)
    return [QColor(int(r), int(g), int(b)) for r, g, b in rgb]


def velocity_bin(velocity: np.ndarray, n_bins: int = N_VELOCITY_BINS) -> np.ndarray:
    """MIDI velocity 1..127 → bin index 0..n_bins-1."""
    v = np.clip(np.asarray(velocity, np.int64), 1, 127)
    return np.minimum((v - 1) * n_bins // 127, n_bins - 1)


def spectrogram_lut() -> np.ndarray:
    """256×3 uint8 lookup table (dark blue-black → magenta → orange → pale yellow)."""
    stops = ["#0b0c10", "#1d1747", "#52206e", "#8d2a6e", "#c8445a", "#ef7a3a", "#fbbf4a", "#fcf4b6"]
    x = np.linspace(0, 1, 256) ** 1.1
    return _interp(stops, x).astype(np.uint8)


def pitch_spectrum_lut() -> np.ndarray:
    """256×4 uint8 RGBA table for the spectrogram behind the notes: transparent where quiet
    (the key lanes show through), a cool blue-grey where loud, so the warm velocity colours of
    the notes stay readable on top."""
    x = np.linspace(0, 1, 256)
    rgb = _interp(["#1b2430", "#2f4a66", "#5a86b0", "#a9c8e6"], x)
    alpha = 255 * np.clip((x - 0.3) / 0.6, 0, 1) ** 1.4
    return np.concatenate([rgb, alpha[:, None]], axis=1).astype(np.uint8)
