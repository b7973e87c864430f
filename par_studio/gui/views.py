"""The three views on one time axis: spectrogram, piano roll (with keyboard), velocity lane.

Built from bare ViewBoxes and AxisItems in one GraphicsLayoutWidget so every plot area lines
up exactly; the x axes are linked. Notes are drawn with one single-colour ``BarGraphItem`` per
velocity bin (pyqtgraph's one-call ``drawRects`` path), never one item per note.
Navigation: wheel scrolls time, Ctrl+wheel zooms time around the cursor, Shift+wheel scrolls
pitch, drag pans, click seeks. On the piano roll an ``edit_handler`` (:mod:`.editing`) gets left
clicks and drags first (select, move, rubber band); middle-drag pans there.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont

from ..constants import FRAME_SECONDS, MAX_MIDI, MIN_MIDI
from ..notes import Notes
from . import theme
from .beatgrid import BarTimeAxis, BeatGridItem
from .keyboard import KeyboardItem, KeyboardViewBox, is_black, note_name
from .spectrum import mel_frequencies

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False, background=theme.BACKGROUND,
                    foreground=theme.TEXT)

NOTE_HEIGHT = 0.8


class NavViewBox(pg.ViewBox):
    """ViewBox with DAW navigation: wheel scrolls x, Ctrl+wheel zooms x, Shift+wheel scrolls y."""

    sigSeek = Signal(float)  #: user clicked at this time (s)
    sigUserNavigated = Signal()

    def __init__(self, scroll_y: bool = False, **kw):
        super().__init__(**kw)
        self.scroll_y = scroll_y
        self.setMouseEnabled(x=True, y=scroll_y)
        self.setMenuEnabled(False)
        self.edit_handler = None  #: object with click(vb, ev) / drag(vb, ev) -> handled

    def wheelEvent(self, ev, axis=None):  # noqa: N802 (Qt name)
        delta = ev.delta() if hasattr(ev, "delta") else ev.angleDelta().y()
        if delta == 0:
            ev.ignore()
            return
        steps = delta / 120.0
        mods = ev.modifiers()
        (x0, x1), (y0, y1) = self.viewRange()
        if mods & Qt.ControlModifier:
            factor = 0.85 ** steps
            center = self.mapSceneToView(ev.scenePos()) if hasattr(ev, "scenePos") else None
            cx = center.x() if center is not None else (x0 + x1) / 2
            self.scaleBy(x=factor, y=1.0, center=QPointF(cx, (y0 + y1) / 2))
        elif mods & Qt.ShiftModifier and self.scroll_y:
            self.translateBy(y=steps * max(1.0, 0.08 * (y1 - y0)))
        else:
            self.translateBy(x=-steps * 0.12 * (x1 - x0))
        self.sigUserNavigated.emit()
        ev.accept()

    def mouseClickEvent(self, ev):  # noqa: N802
        if self.edit_handler is not None and self.edit_handler.click(self, ev):
            ev.accept()
            return
        if ev.button() == Qt.LeftButton and not ev.double():
            self.sigSeek.emit(float(self.mapSceneToView(ev.scenePos()).x()))
            ev.accept()
        else:
            super().mouseClickEvent(ev)

    def hoverEvent(self, ev):  # noqa: N802
        shape = None
        if self.edit_handler is not None and not ev.isExit() and hasattr(self.edit_handler, "hover"):
            shape = self.edit_handler.hover(self, ev.scenePos())
        if shape is None:
            self.unsetCursor()
        else:
            self.setCursor(shape)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802
        if axis is None and self.edit_handler is not None and self.edit_handler.drag(self, ev):
            return
        super().mouseDragEvent(ev, axis)
        self.sigUserNavigated.emit()


def show_frames(item: pg.ImageItem, image: np.ndarray, first_frame: int = 0, y0: float = 0.0) -> None:
    """Show uint8 (rows, k) ``image`` in ``item``: column j centred at (first_frame + j) × 32 ms,
    row r from ``y0 + r`` to ``y0 + r + 1``."""
    item.setImage(image, autoLevels=False, levels=(0, 255))
    item.setRect(QRectF((first_frame - 0.5) * FRAME_SECONDS, y0, image.shape[1] * FRAME_SECONDS, image.shape[0]))


class LiveImage:
    """A live spectrogram's growing history (uint8 (rows, T), amortised doubling) shown in an
    ImageItem: only the visible window is handed to the item, by the display timer. Row r is
    drawn at ``y0 + r`` (the mel image from 0, the pitch image from MIDI 21 − 0.5)."""

    def __init__(self, item: pg.ImageItem, rows: int, y0: float = 0.0):
        self.item, self.rows, self.y0 = item, rows, y0
        self.buf = np.zeros((rows, 4096), np.uint8)
        self.n = 0

    def append(self, t0: int, cols: np.ndarray) -> None:
        """Columns ``t0 .. t0 + k - 1`` (uint8 (rows, k))."""
        if cols.shape[1] == 0:
            return
        end = t0 + cols.shape[1]
        if end > self.buf.shape[1]:
            grown = np.zeros((self.rows, max(end, 2 * self.buf.shape[1])), np.uint8)
            grown[:, : self.n] = self.buf[:, : self.n]
            self.buf = grown
        self.buf[:, t0:end] = cols
        self.n = max(self.n, end)

    def image(self) -> np.ndarray:
        return self.buf[:, : self.n]

    def show(self, x0: float, x1: float) -> None:
        """Hand the columns between view times ``x0`` and ``x1`` (s) to the item."""
        a = max(0, int(x0 / FRAME_SECONDS) - 2)
        b = min(self.n, int(x1 / FRAME_SECONDS) + 2)
        if b <= a:
            return
        show_frames(self.item, np.ascontiguousarray(self.buf[:, a:b]), a, self.y0)


class PassiveScatter(pg.ScatterPlotItem):
    """Scatter points that leave clicks to the view box under them (the velocity lane's own
    editing), instead of swallowing clicks on a point as ScatterPlotItem does."""

    def mouseClickEvent(self, ev):  # noqa: N802
        ev.ignore()


class TimelineWidget(pg.GraphicsLayoutWidget):
    """Spectrogram + keyboard/piano roll + velocity lane + time axis, x-linked."""

    sigSeek = Signal(float)
    sigUserNavigated = Signal()
    sigKeyClicked = Signal(int)  #: a key of the keyboard was clicked (MIDI pitch)

    AXIS_WIDTH = 58
    LIVE_WINDOW_S = 12.0

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setAntialiasing(False)
        lay = self.ci.layout
        lay.setContentsMargins(2, 4, 8, 2)
        lay.setHorizontalSpacing(0)
        lay.setVerticalSpacing(3)
        self._colors = theme.velocity_colors()
        self.duration = 0.0

        # --- spectrogram
        self.spec_vb = NavViewBox()
        self.spec_img = pg.ImageItem(autoDownsample=True)
        self.spec_img.setLookupTable(theme.spectrogram_lut())
        self.spec_img.setLevels((0, 255))
        self.spec_vb.addItem(self.spec_img)
        self.spec_vb.setYRange(0, 229, padding=0)
        self.spec_axis = pg.AxisItem("left")
        self.spec_axis.linkToView(self.spec_vb)
        self.spec_axis.setWidth(self.AXIS_WIDTH)
        freqs = mel_frequencies()
        ticks = []
        for f, label in ((100, "100"), (500, "500"), (1000, "1k"), (2000, "2k"), (4000, "4k Hz")):
            ticks.append((float(np.interp(f, freqs, np.arange(len(freqs)))), label))
        self.spec_axis.setTicks([ticks, []])
        self.spec_n_mels = len(freqs)

        # --- piano roll with keyboard
        self.roll_vb = NavViewBox(scroll_y=True)
        self.roll_vb.setLimits(yMin=MIN_MIDI - 0.5, yMax=MAX_MIDI + 0.5, minYRange=8)
        self.lanes = pg.BarGraphItem(x0=[], y0=[], width=[], height=[], brush=QColor("#23262d"),
                                     pen=pg.mkPen(None))
        self.roll_vb.addItem(self.lanes)
        self.c_lines = pg.BarGraphItem(x0=[], y0=[], width=[], height=[], brush=QColor("#3a3f49"),
                                       pen=pg.mkPen(None))
        self.roll_vb.addItem(self.c_lines)
        self.beat_grid = BeatGridItem()  # beats and bars under the notes (gui/beatgrid.py)
        self.roll_vb.addItem(self.beat_grid, ignoreBounds=True)
        # pitch spectrogram behind the notes: one row per key, transparent where quiet
        self.pitch_img = pg.ImageItem(autoDownsample=True)
        self.pitch_img.setLookupTable(theme.pitch_spectrum_lut())
        self.pitch_img.setLevels((0, 255))
        self.roll_vb.addItem(self.pitch_img)
        self.lookahead = pg.LinearRegionItem(values=(0, 0), movable=False,
                                             brush=QColor(79, 163, 255, 28), pen=pg.mkPen(None))
        self.lookahead.setVisible(False)
        self.roll_vb.addItem(self.lookahead)
        self.loop_region = pg.LinearRegionItem(values=(0, 0), movable=False,
                                               brush=QColor(255, 200, 60, 26),
                                               pen=pg.mkPen(QColor(255, 200, 60, 160), width=1))
        self.loop_region.setVisible(False)
        self.roll_vb.addItem(self.loop_region)
        self.note_bars: list[pg.BarGraphItem] = []
        for c in self._colors:
            bar = pg.BarGraphItem(x0=[], y0=[], width=[], height=[], brush=c,
                                  pen=pg.mkPen(c.darker(160), width=1))
            self.roll_vb.addItem(bar)
            self.note_bars.append(bar)
        self.provisional_bar = pg.BarGraphItem(x0=[], y0=[], width=[], height=[],
                                               brush=QBrush(QColor(255, 255, 255, 140), Qt.BDiagPattern),
                                               pen=pg.mkPen(QColor(255, 255, 255, 200), width=1,
                                                            style=Qt.DashLine))
        self.roll_vb.addItem(self.provisional_bar)
        # selected notes: one highlight bar item on top (+ a rubber band while dragging)
        self.selection_bar = pg.BarGraphItem(x0=[], y0=[], width=[], height=[],
                                             brush=QColor(255, 255, 255, 110),
                                             pen=pg.mkPen(QColor(theme.SELECTION), width=2))
        self.selection_bar.setZValue(20)
        self.roll_vb.addItem(self.selection_bar)
        self.rubber_band = pg.QtWidgets.QGraphicsRectItem()
        self.rubber_band.setPen(pg.mkPen(QColor(theme.SELECTION), width=1, style=Qt.DashLine, cosmetic=True))
        self.rubber_band.setBrush(QColor(255, 255, 255, 30))
        self.rubber_band.setZValue(30)
        self.rubber_band.setVisible(False)
        self.roll_vb.addItem(self.rubber_band, ignoreBounds=True)
        self.key_vb = KeyboardViewBox()
        self.key_vb.sigKeyClicked.connect(self.sigKeyClicked)
        self.key_vb.setMaximumWidth(self.AXIS_WIDTH)
        self.key_vb.setMinimumWidth(self.AXIS_WIDTH)
        self.keyboard = KeyboardItem()
        self.key_vb.addItem(self.keyboard)
        self.key_vb.setXRange(0, 1, padding=0)
        self.key_vb.setYLink(self.roll_vb)
        font = QFont()
        font.setPointSizeF(7.5)
        for octave_c in range(24, MAX_MIDI + 1, 12):
            t = pg.TextItem(note_name(octave_c), color="#30343c", anchor=(1, 0.5))
            t.setFont(font)
            t.setPos(0.98, octave_c)
            self.key_vb.addItem(t)

        # --- velocity lane
        self.vel_vb = NavViewBox()
        self.vel_vb.setYRange(0, 132, padding=0)
        self.vel_axis = pg.AxisItem("left")
        self.vel_axis.linkToView(self.vel_vb)
        self.vel_axis.setWidth(self.AXIS_WIDTH)
        self.vel_axis.setTicks([[(32, "32"), (64, "64"), (96, "96"), (127, "vel 127")], []])
        self.vel_stems: list[pg.PlotDataItem] = []
        self.vel_heads: list[pg.ScatterPlotItem] = []
        for c in self._colors:
            stem = pg.PlotDataItem([], [], connect="pairs", pen=pg.mkPen(c, width=1.5))
            head = PassiveScatter([], [], size=5, pen=pg.mkPen(None), brush=c)
            self.vel_vb.addItem(stem)
            self.vel_vb.addItem(head)
            self.vel_stems.append(stem)
            self.vel_heads.append(head)
        self.vel_selected = PassiveScatter([], [], size=9, pen=pg.mkPen(theme.SELECTION, width=1.5),
                                               brush=pg.mkBrush(None))
        self.vel_vb.addItem(self.vel_selected)

        self.time_axis = BarTimeAxis("bottom")  # seconds, or bar numbers with a beat grid
        self.time_axis.linkToView(self.vel_vb)
        self.time_axis.setLabel("time", units="s")

        # --- layout
        lay.addItem(self.spec_axis, 0, 0)
        lay.addItem(self.spec_vb, 0, 1)
        lay.addItem(self.key_vb, 1, 0)
        lay.addItem(self.roll_vb, 1, 1)
        lay.addItem(self.vel_axis, 2, 0)
        lay.addItem(self.vel_vb, 2, 1)
        lay.addItem(self.time_axis, 3, 1)
        lay.setRowStretchFactor(0, 30)
        lay.setRowStretchFactor(1, 62)
        lay.setRowStretchFactor(2, 16)
        lay.setColumnFixedWidth(0, self.AXIS_WIDTH)
        for vb in (self.spec_vb, self.vel_vb):
            vb.setXLink(self.roll_vb)
        # --- playheads
        self.playheads = []
        for vb in (self.spec_vb, self.roll_vb, self.vel_vb):
            line = pg.InfiniteLine(pos=0, angle=90, movable=False, pen=pg.mkPen(theme.PLAYHEAD, width=1.5))
            line.setZValue(50)
            vb.addItem(line)
            self.playheads.append(line)
            vb.sigSeek.connect(self.sigSeek)
            vb.sigUserNavigated.connect(self.sigUserNavigated)
        self.roll_vb.setLimits(xMin=-2.0)
        self.set_extent(10.0)
        self.roll_vb.setXRange(0, 10, padding=0)
        self.roll_vb.setYRange(36 - 0.5, 96 + 0.5, padding=0)

        self.notes = Notes()
        self.selection = np.zeros(0, np.int64)
        self._drawn: dict[int, tuple] = {}  #: per velocity bin: the arrays last drawn
        self.draw_from: float | None = None  #: live: draw notes ending after this time only
        self._bins = np.zeros(0, np.int64)
        self.provisional = Notes()
        self._spec_live: LiveImage | None = None
        self._pitch_live: LiveImage | None = None

    # ------------------------------------------------------------------ extent / background
    def set_extent(self, seconds: float) -> None:
        """Draw the key lanes up to ``seconds`` (black-key rows shaded, a line under each C)."""
        self.duration = max(0.0, float(seconds))
        width = max(self.duration, 1.0) + 60.0
        black = np.array([p for p in range(MIN_MIDI, MAX_MIDI + 1) if is_black(p)], float)
        self.lanes.setOpts(x0=np.full(len(black), -2.0), y0=black - 0.5, width=np.full(len(black), width + 2),
                           height=np.ones(len(black)))
        cs = np.arange(24, MAX_MIDI + 1, 12, dtype=float)
        self.c_lines.setOpts(x0=np.full(len(cs), -2.0), y0=cs - 0.5 - 0.03, width=np.full(len(cs), width + 2),
                             height=np.full(len(cs), 0.06))

    def set_meter(self, meter) -> None:
        """Draw ``meter``'s beats and bars under the notes and number the bars on the time axis
        (:mod:`.beatgrid`); None: no grid, the axis in seconds."""
        self.beat_grid.set_meter(meter)
        self.time_axis.set_meter(meter)

    def fit(self, duration: float | None = None, notes: Notes | None = None) -> None:
        d = self.duration if duration is None else duration
        self.roll_vb.setXRange(0, max(d, 1.0), padding=0.01)
        notes = self.notes if notes is None else notes
        if len(notes):
            lo, hi = int(notes.pitch.min()), int(notes.pitch.max())
            mid = (lo + hi) / 2
            half = max(hi - lo + 8, 30) / 2
            lo, hi = max(MIN_MIDI - 0.5, mid - half), min(MAX_MIDI + 0.5, mid + half)
            self.roll_vb.setYRange(lo, hi, padding=0)

    # ------------------------------------------------------------------ spectrogram
    def set_spectrogram(self, image: np.ndarray | None) -> None:
        """uint8 (n_mels, T) image; column t is centred at t × 32 ms."""
        self._spec_live = None
        if image is None or image.size == 0:
            self.spec_img.clear()
            return
        show_frames(self.spec_img, image)

    def set_pitch_spectrogram(self, image: np.ndarray | None) -> None:
        """uint8 (88, T) image behind the notes; row k is MIDI pitch 21 + k, column t is centred
        at t × 32 ms (the notes' frame grid)."""
        self._pitch_live = None
        if image is None or image.size == 0:
            self.pitch_img.clear()
            return
        show_frames(self.pitch_img, image, 0, MIN_MIDI - 0.5)

    def begin_live_spectrogram(self, n_mels: int) -> None:
        """Empty both spectrograms; live columns are appended from now on."""
        self._spec_live = LiveImage(self.spec_img, n_mels)
        self._pitch_live = LiveImage(self.pitch_img, 88, MIN_MIDI - 0.5)
        self.spec_img.clear()
        self.pitch_img.clear()

    def append_spectrogram(self, t0: int, cols: np.ndarray) -> None:
        """Append live mel columns (first index t0, uint8 (n_mels, k))."""
        if self._spec_live is not None:
            self._spec_live.append(t0, cols)

    def append_pitch_spectrogram(self, t0: int, cols: np.ndarray) -> None:
        """Append live pitch-spectrogram columns (first index t0, uint8 (88, k))."""
        if self._pitch_live is not None:
            self._pitch_live.append(t0, cols)

    def live_spectrogram(self) -> np.ndarray:
        if self._spec_live is None:
            return np.zeros((self.spec_n_mels, 0), np.uint8)
        return self._spec_live.image()

    def live_pitch_spectrogram(self) -> np.ndarray:
        if self._pitch_live is None:
            return np.zeros((88, 0), np.uint8)
        return self._pitch_live.image()

    def refresh_live_spectrogram(self) -> None:
        """Show the visible window of the live histories (called by the display timer)."""
        (x0, x1), _ = self.roll_vb.viewRange()
        for live in (self._spec_live, self._pitch_live):
            if live is not None:
                live.show(x0, x1)

    # ------------------------------------------------------------------ notes
    def set_notes(self, notes: Notes) -> None:
        """Draw ``notes`` (this exact object is what the window exports)."""
        self.notes = notes
        self._bins = theme.velocity_bin(notes.velocity)
        for b in range(len(self.note_bars)):
            self._draw_bin(b)
        self.set_selection(np.zeros(0, np.int64))

    def set_selection(self, idx, dt: float = 0.0, dp: int = 0, resize: tuple[float, float] = (0.0, 0.0)) -> None:
        """Highlight the notes ``idx`` of the drawn notes (drawn shifted by ``dt`` s / ``dp``
        semitones while a move is being dragged, and with start/end moved by ``resize`` s while
        an edge is)."""
        self.selection = np.asarray(idx, np.int64)
        n = self.notes.take(self.selection)
        on = n.onset + dt + resize[0]
        off = n.offset + dt + resize[1]
        self.selection_bar.setOpts(x0=on, y0=n.pitch.astype(float) + dp - NOTE_HEIGHT / 2,
                                   width=np.maximum(off - on, 1e-3), height=np.full(len(n), NOTE_HEIGHT))
        self.vel_selected.setData(on, n.velocity.astype(float))

    def set_selection_offset(self, dt: float, dp: int) -> None:
        self.set_selection(self.selection, dt, dp)

    def set_rubber_band(self, rect: QRectF | None) -> None:
        if rect is None:
            self.rubber_band.setVisible(False)
            return
        self.rubber_band.setRect(rect)
        self.rubber_band.setVisible(True)

    def _draw_bin(self, b: int) -> None:
        n = self.notes
        if self.draw_from is None:
            sel = np.flatnonzero(self._bins == b)
        else:  # live: only what can still be in view (the full set is drawn when live stops)
            sel = np.flatnonzero((self._bins == b) & (n.offset >= self.draw_from))
        on, off, p, v = n.onset[sel], n.offset[sel], n.pitch[sel].astype(float), n.velocity[sel].astype(float)
        last = self._drawn.get(b)
        if last is not None and all(np.array_equal(x, y) for x, y in zip(last, (on, off, p, v))):
            return  # unchanged (an edit touches few bins): skip pyqtgraph's redraw of this one
        self._drawn[b] = (on, off, p, v)
        self.note_bars[b].setOpts(x0=on, y0=p - NOTE_HEIGHT / 2, width=np.maximum(off - on, 1e-3),
                                  height=np.full(len(sel), NOTE_HEIGHT))
        xs = np.repeat(on, 2)
        ys = np.zeros(2 * len(sel))
        ys[1::2] = v
        self.vel_stems[b].setData(xs, ys)
        self.vel_heads[b].setData(on, v)

    def append_notes(self, new: Notes, all_notes: Notes) -> None:
        """Live: ``all_notes`` = previous notes + ``new``; redraw only the bins that changed."""
        self.notes = all_notes
        self._bins = theme.velocity_bin(all_notes.velocity)
        for b in np.unique(theme.velocity_bin(new.velocity)):
            self._draw_bin(int(b))

    def set_notes_window(self, start: float | None) -> None:
        self.draw_from = start

    def drawn_notes(self) -> Notes:
        """The notes as the bars hold them (for tests: read back from the graphics items)."""
        parts = []
        for b, bar in enumerate(self.note_bars):
            o = bar.opts
            x0 = np.asarray(o["x0"], float)
            if len(x0) == 0:
                continue
            sel = np.flatnonzero(self._bins == b)
            if self.draw_from is not None:
                sel = sel[self.notes.offset[sel] >= self.draw_from]
            parts.append(Notes(x0, x0 + np.asarray(o["width"], float),
                               np.round(np.asarray(o["y0"], float) + NOTE_HEIGHT / 2).astype(int),
                               self.notes.velocity[sel]))
        return Notes.concat(parts)

    def set_provisional(self, notes: Notes) -> None:
        """Notes still sounding (their end is not known yet): hatched, dashed outline."""
        self.provisional = notes
        self.provisional_bar.setOpts(x0=notes.onset, y0=notes.pitch.astype(float) - NOTE_HEIGHT / 2,
                                     width=np.maximum(notes.offset - notes.onset, FRAME_SECONDS),
                                     height=np.full(len(notes), NOTE_HEIGHT))

    def set_loop(self, span: tuple[float, float] | None) -> None:
        """Show the looped span (start s, end s) on the roll, or hide it (None)."""
        if span is None:
            self.loop_region.setVisible(False)
            return
        self.loop_region.setRegion(span)
        self.loop_region.setVisible(True)

    def set_lookahead(self, start: float | None, end: float | None = None) -> None:
        if start is None:
            self.lookahead.setVisible(False)
            return
        self.lookahead.setRegion((start, end))
        self.lookahead.setVisible(True)

    # ------------------------------------------------------------------ playhead / view
    def set_playhead(self, t: float) -> None:
        for line in self.playheads:
            line.setPos(t)

    def playhead(self) -> float:
        return float(self.playheads[0].value())

    def follow(self, t: float, live: bool = False) -> None:
        """Keep time ``t`` in view: live → at the right edge; playback → page when it leaves."""
        (x0, x1), _ = self.roll_vb.viewRange()
        w = x1 - x0
        if live:  # the newest audio near the right edge; never before 0 s
            w = w if w < 60 else self.LIVE_WINDOW_S
            x0 = max(0.0, t - 0.92 * w)
            self.roll_vb.setXRange(x0, x0 + w, padding=0)
        elif t > x0 + 0.85 * w or t < x0:
            self.roll_vb.setXRange(t - 0.15 * w, t + 0.85 * w, padding=0)

    def reveal(self, t0: float, t1: float, pitch: int) -> None:
        """Bring the span ``t0``..``t1`` s and key ``pitch`` into view (paging as playback does,
        scrolling the keys only when the pitch is off screen)."""
        (x0, x1), (y0, y1) = self.roll_vb.viewRange()
        w = x1 - x0
        if t0 < x0 or t1 > x1:
            self.roll_vb.setXRange(t0 - 0.15 * w, t0 + 0.85 * w, padding=0)
        if not y0 + 1 <= pitch <= y1 - 1:
            h = y1 - y0
            self.roll_vb.setYRange(pitch - h / 2, pitch + h / 2, padding=0)

    def zoom(self, factor: float) -> None:
        (x0, x1), _ = self.roll_vb.viewRange()
        c = self.playhead() if x0 <= self.playhead() <= x1 else (x0 + x1) / 2
        self.roll_vb.scaleBy(x=factor, y=1.0, center=QPointF(c, 60))
