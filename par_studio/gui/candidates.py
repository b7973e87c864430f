"""Candidate notes on the piano roll: ghost notes the model would add at a higher sensitivity.

:class:`CandidateController` takes the candidates of the window's transcription
(:func:`par_studio.candidates.candidates_of`: from the decoder's cached probabilities, nothing
is run again), shows those within the toolbar's Candidates slider as ghost notes (no fill,
dashed outline) and lets the user check them one by one: N / Shift+N focus the next / previous
one (shown, heard, and in the inspector), a click or Enter accepts one (it becomes an ordinary
note: one undo step, so Undo brings the candidate back), Delete rejects it (hidden until the
file is transcribed again). Candidates are never part of ``window.notes``: export writes only
the notes, so only accepted candidates are exported.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor

from ..candidates import Candidates, candidates_of, not_in
from ..constants import FRAME_SECONDS
from ..notes import Notes
from .note_edits import add_note, hit_test
from .keyboard import note_name
from .views import NOTE_HEIGHT

SLIDER_STEPS = 20  #: slider position s shows candidates up to s / 10 more sensitivity (MAX_MARGIN)
DEFAULT_STEPS = 10


class CandidateController(QObject):
    """The candidates of one window (see the module doc)."""

    sigChanged = Signal(int)  #: number of candidates shown

    def __init__(self, window):
        super().__init__(window)
        self.win = window
        self.all = Candidates()
        self.max_margin = DEFAULT_STEPS / 10
        self.rejected: set[tuple[int, int]] = set()  #: (onset frame, pitch) of rejected ones
        self.shown = Notes()
        self.focus = -1  #: index into ``shown`` of the focused candidate, or -1
        vb = window.timeline.roll_vb
        self.bar = pg.BarGraphItem(x0=[], y0=[], width=[], height=[], brush=QColor(255, 255, 255, 40),
                                   pen=pg.mkPen(QColor(240, 240, 250, 220), width=1.5, style=Qt.DashLine))
        self.bar.setZValue(15)
        vb.addItem(self.bar)
        self.focus_bar = pg.BarGraphItem(x0=[], y0=[], width=[], height=[], brush=QColor(120, 200, 255, 70),
                                         pen=pg.mkPen(QColor(120, 200, 255), width=2.5, style=Qt.DashLine))
        self.focus_bar.setZValue(16)
        vb.addItem(self.focus_bar)

    # ------------------------------------------------------------------ state
    def set_transcription(self, transcription) -> None:
        """New candidates for a new transcription (None: none)."""
        self.all = candidates_of(transcription) if transcription is not None else Candidates()
        self.rejected = set()
        self.focus = -1
        self.update()

    def set_max_margin(self, margin: float) -> None:
        self.max_margin = float(margin)
        self.update()

    def _key(self, notes: Notes, i: int) -> tuple[int, int]:
        return int(round(notes.onset[i] / FRAME_SECONDS)), int(notes.pitch[i])

    def update(self) -> None:
        """Recompute what is shown: within the slider, not rejected, not covered by a note."""
        old = self.focused_note()
        win = self.win
        if win.live is not None or self.max_margin <= 0 or not len(self.all):
            shown = Notes()
        else:
            c = self.all.notes.take(self.all.up_to(self.max_margin))
            keep = not_in(c, win.notes)
            keep &= np.array([self._key(c, i) not in self.rejected for i in range(len(c))], bool)
            shown = c.take(keep)
        self.shown = shown
        self.focus = -1
        if old is not None:  # keep the focus on the same candidate if it is still shown
            same = np.flatnonzero((np.abs(shown.onset - old.onset[0]) < 1e-6) & (shown.pitch == old.pitch[0]))
            self.focus = int(same[0]) if len(same) else -1
        self._draw()
        self.sigChanged.emit(len(shown))

    def _draw(self) -> None:
        n = self.shown
        self.bar.setOpts(x0=n.onset, y0=n.pitch.astype(float) - NOTE_HEIGHT / 2,
                         width=np.maximum(n.offset - n.onset, 1e-3), height=np.full(len(n), NOTE_HEIGHT))
        f = self.focused_note() or Notes()
        self.focus_bar.setOpts(x0=f.onset, y0=f.pitch.astype(float) - NOTE_HEIGHT / 2,
                               width=np.maximum(f.offset - f.onset, 1e-3), height=np.full(len(f), NOTE_HEIGHT))
        self.win.inspector.refresh()

    def focused_note(self) -> Notes | None:
        return self.shown.take([self.focus]) if 0 <= self.focus < len(self.shown) else None

    def clear_focus(self) -> None:
        if self.focus >= 0:
            self.focus = -1
            self._draw()
            self.win._update_edit_actions()

    def set_focus(self, i: int, reveal: bool = True) -> None:
        """Focus candidate ``i`` of ``shown`` (the note selection is cleared), show and play it."""
        if not 0 <= i < len(self.shown):
            return
        win = self.win
        win.editor.set_selection([])
        self.focus = int(i)
        self._draw()
        n = self.shown
        if reveal:
            win.timeline.reveal(float(n.onset[i]), float(n.offset[i]), int(n.pitch[i]))
        win.audition_notes([int(n.pitch[i])], [int(n.velocity[i])])
        win._update_edit_actions()

    def step(self, direction: int) -> int:
        """Focus the next (+1) / previous (−1) candidate: after the focused one, or from the
        playhead. Returns its index or −1."""
        n = self.shown
        if not len(n) or not self.win.editor.enabled:
            return -1
        if self.focus >= 0:
            i = self.focus + direction
        else:
            t = self.win.timeline.playhead()
            i = int(np.searchsorted(n.onset, t - 1e-9)) if direction > 0 else \
                int(np.searchsorted(n.onset, t + 1e-9)) - 1
        if not 0 <= i < len(n):
            return -1
        self.set_focus(i)
        return i

    # ------------------------------------------------------------------ accept / reject
    def accept(self, i: int) -> bool:
        """Candidate ``i`` becomes a note (one undo step); the next one is focused."""
        n = self.shown
        win = self.win
        if not 0 <= i < len(n) or not win.editor.enabled:
            return False
        after, _sel = add_note(win.notes, float(n.onset[i]), int(n.pitch[i]),
                               float(n.offset[i] - n.onset[i]), int(n.velocity[i]))
        nxt = self._next_after(i)
        self.focus = -1
        win.editor.push(f"Accept candidate {note_name(int(n.pitch[i]))}", after, np.zeros(0, np.int64))
        self._refocus(nxt)
        return True

    def reject(self, i: int) -> bool:
        """Hide candidate ``i`` (until the next transcription); the next one is focused."""
        if not 0 <= i < len(self.shown):
            return False
        nxt = self._next_after(i)
        self.rejected.add(self._key(self.shown, i))
        self.focus = -1
        self.update()
        self._refocus(nxt)
        self.win.statusBar().showMessage("Candidate rejected: hidden until the audio is transcribed again", 4000)
        return True

    def _next_after(self, i: int):
        n = self.shown
        return (float(n.onset[i + 1]), int(n.pitch[i + 1])) if i + 1 < len(n) else None

    def _refocus(self, key) -> None:
        if key is None:
            self.win._update_edit_actions()
            return
        n = self.shown
        hit = np.flatnonzero((np.abs(n.onset - key[0]) < 1e-6) & (n.pitch == key[1]))
        if len(hit):
            self.set_focus(int(hit[0]))

    def accept_focused(self) -> bool:
        return self.accept(self.focus) if self.focus >= 0 else False

    def reject_focused(self) -> bool:
        return self.reject(self.focus) if self.focus >= 0 else False

    def accept_all(self) -> int:
        """Every candidate shown becomes a note (one undo step). Returns how many."""
        n = self.shown
        win = self.win
        if not len(n) or not win.editor.enabled:
            return 0
        both = Notes.concat([win.notes, n])
        self.focus = -1
        win.editor.push(f"Accept {len(n)} candidates", both, np.zeros(0, np.int64))
        return len(n)

    def click(self, t: float, pitch: float, slop_s: float) -> bool:
        """A click on the roll where no note is: accept the candidate under it, if any."""
        i = hit_test(self.shown, t, pitch, slop_s)
        return self.accept(i) if i >= 0 else False
