"""The keyboard beside the piano roll (one row per key, keys lit while they sound, a click
plays a key), and the names of the keys."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPicture

from ..constants import MAX_MIDI, MIN_MIDI
from . import theme

BLACK_KEYS = {1, 3, 6, 8, 10}
NOTE_NAMES = ["C", "C♯", "D", "E♭", "E", "F", "F♯", "G", "A♭", "A", "B♭", "B"]


def is_black(pitch: int) -> bool:
    return pitch % 12 in BLACK_KEYS


def note_name(pitch: int) -> str:
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


class KeyboardViewBox(pg.ViewBox):
    """The keyboard's box: no navigation of its own (it follows the roll); a left click on a key
    emits :attr:`sigKeyClicked` with its MIDI pitch (to hear it)."""

    sigKeyClicked = Signal(int)

    def __init__(self):
        super().__init__(enableMouse=False, enableMenu=False)

    def mouseClickEvent(self, ev):  # noqa: N802
        if ev.button() != Qt.LeftButton:
            return super().mouseClickEvent(ev)
        pitch = int(round(self.mapSceneToView(ev.scenePos()).y()))
        if MIN_MIDI <= pitch <= MAX_MIDI:
            self.sigKeyClicked.emit(pitch)
        ev.accept()


class KeyboardItem(pg.GraphicsObject):
    """88 keys along the pitch axis (one row per key, as in a DAW), x in [0, 1]."""

    def __init__(self):
        super().__init__()
        self.active: set[int] = set()
        self._picture = None

    def set_active(self, pitches) -> None:
        new = set(int(p) for p in pitches)
        if new != self.active:
            self.active = new
            self._picture = None
            self.update()

    def boundingRect(self):  # noqa: N802
        return QRectF(0, MIN_MIDI - 0.5, 1, MAX_MIDI - MIN_MIDI + 1)

    def _render(self) -> QPicture:
        pic = QPicture()
        p = QPainter(pic)
        p.setPen(Qt.NoPen)
        white, black, hi = QColor("#e4e4e4"), QColor("#202226"), QColor(theme.ACCENT)
        p.setBrush(white)
        p.drawRect(QRectF(0, MIN_MIDI - 0.5, 1, MAX_MIDI - MIN_MIDI + 1))
        line = QPen(QColor("#9a9a9a"))
        line.setCosmetic(True)
        for k in range(MIN_MIDI, MAX_MIDI + 1):
            y = k - 0.5
            if is_black(k):
                p.setPen(Qt.NoPen)
                p.setBrush(hi if k in self.active else black)
                p.drawRect(QRectF(0, y, 0.6, 1))
            else:
                if k in self.active:
                    p.setPen(Qt.NoPen)
                    p.setBrush(hi)
                    p.drawRect(QRectF(0, y, 1, 1))
                if k % 12 in (0, 5):  # boundary below C and F (no black key between)
                    p.setPen(line)
                    p.drawLine(QPointF(0, y), QPointF(1, y))
                elif not is_black(k - 1):
                    pass
                else:  # white key boundary under a black key: draw on the right part
                    p.setPen(line)
                    p.drawLine(QPointF(0.6, y + 0.5), QPointF(1, y + 0.5))
        p.end()
        return pic

    def paint(self, painter, *args):
        if self._picture is None:
            self._picture = self._render()
        self._picture.play(painter)
