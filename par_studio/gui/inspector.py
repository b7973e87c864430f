"""The note inspector: the selected note's pitch, start, length and velocity, editable.

A strip under the piano roll. With one note selected it shows its pitch name (and MIDI
number), start and length in seconds and its velocity; typing a new value and pressing Enter
(or leaving the field) is one undoable edit through the window's
:class:`~.editing.NoteEditor`. With several notes selected it shows how many and their
velocity range; a velocity typed then applies to all of them (one step). When a candidate
note is focused (:mod:`.candidates`) it shows the candidate, with Accept and Reject buttons.
The velocity colour legend (:mod:`.legend`) sits at its right end.
"""

from __future__ import annotations

import re

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QWidget,
)

from ..constants import FRAME_SECONDS, MAX_MIDI, MIN_MIDI
from ..notes import Notes
from .note_edits import _sorted_with_selection
from .legend import VelocityLegend
from .keyboard import note_name

_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def parse_pitch(text: str) -> int | None:
    """A pitch typed by the user → MIDI number on the piano (21..108), or None.

    Accepts a MIDI number ("61") or a name with octave ("C#4", "c♯4", "Db4", "D♭4", "Bb-1"
    is off the piano → None); middle C is C4 = 60.
    """
    s = text.strip().replace("♯", "#").replace("♭", "b")
    if re.fullmatch(r"\d{1,3}", s):
        p = int(s)
    else:
        m = re.fullmatch(r"([A-Ga-g])([#b]?)\s*(-?\d)", s)
        if m is None:
            return None
        p = 12 * (int(m.group(3)) + 1) + _LETTERS[m.group(1).upper()] + {"#": 1, "b": -1, "": 0}[m.group(2)]
    return p if MIN_MIDI <= p <= MAX_MIDI else None


def set_fields(notes: Notes, idx, onset: float | None = None, length: float | None = None,
               pitch: int | None = None, velocity: int | None = None) -> tuple[Notes, np.ndarray]:
    """Notes ``idx`` with the given fields replaced (start ≥ 0, length ≥ one frame, velocity
    1..127), re-sorted; returns the notes and where ``idx`` went. Start keeps the length."""
    idx = np.asarray(idx, np.int64)
    on, off = notes.onset.copy(), notes.offset.copy()
    p, v = notes.pitch.copy(), notes.velocity.copy()
    if onset is not None:
        dur = off[idx] - on[idx]
        on[idx] = max(0.0, float(onset))
        off[idx] = on[idx] + dur
    if length is not None:
        off[idx] = on[idx] + max(float(length), FRAME_SECONDS)
    if pitch is not None:
        p[idx] = int(np.clip(pitch, MIN_MIDI, MAX_MIDI))
    if velocity is not None:
        v[idx] = int(np.clip(velocity, 1, 127))
    return _sorted_with_selection(Notes(on, off, p, v), idx)


class NoteInspector(QWidget):
    """The strip (see the module doc). ``window``: the main window (notes, editor, candidates)."""

    def __init__(self, window):
        super().__init__()
        self.win = window
        self.setObjectName("note_inspector")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 3, 8, 3)
        lay.setSpacing(5)
        self.title = QLabel("")
        self.title.setMinimumWidth(96)
        lay.addWidget(self.title)
        lay.addSpacing(6)
        self.pitch_edit = QLineEdit()
        self.pitch_edit.setFixedWidth(64)
        self.pitch_edit.setToolTip("Pitch: a name with octave (C4 = middle C; C#4, Db4) or a MIDI number")
        self.start_box = QDoubleSpinBox()
        self.start_box.setRange(0.0, 24 * 3600.0)
        self.start_box.setDecimals(3)
        self.start_box.setSingleStep(FRAME_SECONDS)
        self.start_box.setSuffix(" s")
        self.start_box.setToolTip("Start of the note, seconds from the beginning of the recording")
        self.length_box = QDoubleSpinBox()
        self.length_box.setRange(FRAME_SECONDS, 3600.0)
        self.length_box.setDecimals(3)
        self.length_box.setSingleStep(FRAME_SECONDS)
        self.length_box.setSuffix(" s")
        self.length_box.setToolTip("Length of the note in seconds")
        self.velocity_box = QSpinBox()
        self.velocity_box.setRange(1, 127)
        self.velocity_box.setToolTip("Velocity 1..127 (how hard the key was struck; the note's colour)")
        self.fields = {}
        for name, w in (("Pitch", self.pitch_edit), ("Start", self.start_box), ("Length", self.length_box),
                        ("Velocity", self.velocity_box)):
            label = QLabel(name)
            label.setBuddy(w)
            lay.addWidget(label)
            lay.addWidget(w)
            self.fields[name] = (label, w)
        for box, width in ((self.start_box, 96), (self.length_box, 84), (self.velocity_box, 58)):
            box.setFixedWidth(width)
            box.setKeyboardTracking(False)  # typed values apply on Enter / leaving; arrows step
            box.setFocusPolicy(Qt.ClickFocus)
        self.pitch_edit.setFocusPolicy(Qt.ClickFocus)
        self.accept_button = QPushButton("Accept")
        self.accept_button.setToolTip("Make this candidate a note (Enter, or click it on the roll); one undo step")
        self.reject_button = QPushButton("Reject")
        self.reject_button.setToolTip("Hide this candidate (Delete)")
        for b in (self.accept_button, self.reject_button):
            b.setFocusPolicy(Qt.NoFocus)
            b.setStyleSheet("padding: 2px 10px;")
            b.setMinimumWidth(0)
            lay.addWidget(b)
        self.accept_button.clicked.connect(lambda: self.win.candidates.accept_focused())
        self.reject_button.clicked.connect(lambda: self.win.candidates.reject_focused())
        self.hint = QLabel("")
        self.hint.setStyleSheet("color: #8a909c;")
        self.hint.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # cut, never widening the window
        self.hint.setMinimumWidth(0)
        lay.addWidget(self.hint, 1)  # takes the free width (the stretch), cut when there is none
        lay.addSpacing(4)
        self.legend = VelocityLegend()
        lay.addWidget(self.legend)

        self.pitch_edit.editingFinished.connect(self._pitch_typed)
        self.start_box.valueChanged.connect(lambda v: self._edit("start", onset=v))
        self.length_box.valueChanged.connect(lambda v: self._edit("length", length=v))
        self.velocity_box.valueChanged.connect(lambda v: self._edit("velocity", velocity=v))
        self._showing = False  #: True while refresh() fills the fields (no edits then)
        # one height whatever is shown: the roll above must not move when the selection changes
        self.setFixedHeight(self.sizeHint().height())
        self.refresh()

    # ------------------------------------------------------------------ show
    def _show_fields(self, pitch: bool, start: bool, length: bool, velocity: bool) -> None:
        for (label, w), on in zip(self.fields.values(), (pitch, start, length, velocity)):
            label.setVisible(on)
            w.setVisible(on)

    def refresh(self) -> None:
        """Show what is selected (or the focused candidate); call after any change."""
        self._showing = True
        try:
            self._refresh()
        finally:
            self._showing = False

    def _refresh(self) -> None:
        win = self.win
        cand = win.candidates.focused_note() if hasattr(win, "candidates") else None
        sel = win.editor.selection
        n = win.notes
        editable = win.live is None
        self.accept_button.setVisible(cand is not None)
        self.reject_button.setVisible(cand is not None)
        if cand is not None:
            self.title.setText("<b>Candidate</b>")
            self._show_fields(True, True, True, True)
            self._fill(cand, 0)
            for _label, w in self.fields.values():
                w.setEnabled(False)
            self.hint.setText("Enter: accept · Del: reject · N: next")
            return
        for _label, w in self.fields.values():
            w.setEnabled(editable)
        if len(sel) == 1:
            i = int(sel[0])
            self.title.setText(f"<b>Note</b> {note_name(int(n.pitch[i]))} (MIDI {int(n.pitch[i])})")
            self._show_fields(True, True, True, True)
            self._fill(n, i)
            self.hint.setText("Type a value and press Enter: one undo step")
        elif len(sel) > 1:
            v = n.velocity[sel]
            self.title.setText(f"<b>{len(sel)} notes</b> · velocity {int(v.min())}–{int(v.max())}"
                               if v.min() != v.max() else f"<b>{len(sel)} notes</b>")
            self._show_fields(False, False, False, True)
            self.velocity_box.setValue(int(np.round(v.mean())))
            self.hint.setText("A velocity typed here applies to all of them")
        else:
            self.title.setText("No note selected")
            self._show_fields(False, False, False, False)
            self.hint.setText("Click a note, or press Tab, to read and edit it" if len(n) else "")

    def _fill(self, notes: Notes, i: int) -> None:
        self.pitch_edit.setText(note_name(int(notes.pitch[i])))
        self.start_box.setValue(float(notes.onset[i]))
        self.length_box.setValue(float(notes.offset[i] - notes.onset[i]))
        self.velocity_box.setValue(int(notes.velocity[i]))

    def step_field(self, direction: int) -> bool:
        """Tab while typing here: focus the next (+1) / previous (−1) field shown (the typed
        value is applied as the field is left). False when the keyboard focus is elsewhere."""
        fw = QApplication.focusWidget()
        fields = [w for _label, w in self.fields.values() if w.isVisibleTo(self) and w.isEnabled()]
        mine = [i for i, w in enumerate(fields) if w is fw or w.isAncestorOf(fw)] if fw is not None else []
        if not mine:
            return False
        nxt = fields[(mine[0] + direction) % len(fields)]
        nxt.setFocus(Qt.TabFocusReason)
        if hasattr(nxt, "selectAll"):
            nxt.selectAll()
        return True

    # ------------------------------------------------------------------ edit
    def _pitch_typed(self) -> None:
        if self._showing or len(self.win.editor.selection) != 1:
            return
        p = parse_pitch(self.pitch_edit.text())
        if p is None:
            self.win.statusBar().showMessage(
                f"“{self.pitch_edit.text()}” is not a piano key: type a name with octave (C4 is middle C, "
                "C#4, Db4) or a MIDI number 21–108.", 8000)
            self.refresh()
            return
        self._edit("pitch", pitch=p)

    def _edit(self, what: str, **fields) -> None:
        """One undoable edit of the selected note(s)."""
        win = self.win
        ed = win.editor
        sel = ed.selection
        if self._showing or not len(sel) or not ed.enabled or (len(sel) > 1 and what != "velocity"):
            return
        after, new_sel = set_fields(win.notes, sel, **fields)
        if after.equals(win.notes, atol=5e-4):
            return
        label = note_name(int(win.notes.pitch[sel[0]])) if len(sel) == 1 else f"{len(sel)} notes"
        ed.push(f"Set {what} of {label}", after, new_sel)
        if what == "pitch":
            ed.audition_selected()
