"""Note editing on the piano roll: pure-numpy edits and hit-testing, undo commands, mouse/keys.

The edits themselves are pure numpy (:mod:`.note_edits`). Every edit builds a *new*
:class:`~par_studio.notes.Notes` (sorted by onset, pitch) and pushes
a :class:`NotesCommand` on the window's ``QUndoStack``; ``redo``/``undo`` hand the after/before
object to :meth:`NoteEditor.apply`, which makes it the window's one ``notes`` (drawn and
exported). Nothing mutates a Notes object in place, so snapshots are safe to share.

Hit-testing works on the Notes arrays (no per-note graphics items): see :func:`hit_test`,
:func:`notes_in_rect`.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QUndoCommand

from ..constants import FRAME_SECONDS
from ..notes import Notes
from .note_edits import (  # noqa: F401 (hit_test, notes_in_rect: also imported from here)
    NEW_NOTE_VELOCITY,
    add_note,
    clamp_move,
    clamp_resize,
    delete_notes,
    hit_test,
    join_notes,
    move_notes,
    notes_in_rect,
    quantise_notes,
    resize_notes,
    set_velocities,
    snap,
    split_notes,
    velocity_hit,
)

MERGE_WINDOW_S = 1.0  #: nudges/velocity steps this close together undo as one step
HIT_SLOP_PX = 3.0  #: very short notes stay clickable: this many pixels either side
EDGE_PX = 5.0  #: a drag starting this close to a note's start or end resizes it
MIN_RESIZABLE_PX = 3 * EDGE_PX  #: notes drawn narrower than this are only moved


# =========================================================================== undo
class NotesCommand(QUndoCommand):
    """One edit: the notes (and selection) before and after. Consecutive commands of the same
    ``merge_id`` on the same selection within a second merge (held arrow keys, +/- taps)."""

    def __init__(self, editor: "NoteEditor", text: str, before: Notes, after: Notes,
                 sel_before: np.ndarray, sel_after: np.ndarray, merge_id: int = -1):
        super().__init__(text)
        self.editor = editor
        self.before, self.after = before, after
        self.sel_before, self.sel_after = np.asarray(sel_before), np.asarray(sel_after)
        self.merge_id = merge_id
        self.stamp = time.monotonic()

    def redo(self):
        self.editor.apply(self.after, self.sel_after)

    def undo(self):
        self.editor.apply(self.before, self.sel_before)

    def id(self):
        return self.merge_id

    def mergeWith(self, other):  # noqa: N802 (Qt name)
        if (other.id() != self.merge_id or other.stamp - self.stamp > MERGE_WINDOW_S
                or not np.array_equal(other.sel_before, self.sel_after)):
            return False
        self.after, self.sel_after, self.stamp = other.after, other.sel_after, other.stamp
        return True


MERGE_MOVE, MERGE_VELOCITY, MERGE_LENGTH = 1, 2, 3


def _count(n: int, what: str = "note") -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


# =========================================================================== controller
class NoteEditor(QObject):
    """Selection + edit operations + mouse handling for the piano roll of one window.

    The window provides ``notes`` (its one Notes object), ``undo_stack``, ``timeline`` and
    ``show_notes(notes)`` (make a Notes object the drawn/exported one without refitting the view).
    """

    sigSelectionChanged = Signal(int)  #: number of selected notes
    sigEdited = Signal()  #: the notes were replaced by an edit, an undo or a redo
    sigAudition = Signal(object, object)  #: (pitches, velocities) to let the user hear

    def __init__(self, window):
        super().__init__(window)
        self.win = window
        self.selection = np.zeros(0, np.int64)
        self.enabled = True
        self._drag: dict | None = None
        self.candidate_handler = None  #: has click(t, pitch, slop_s) -> bool (see .candidates)
        window.timeline.roll_vb.edit_handler = self

    # ------------------------------------------------------------------ state
    @property
    def notes(self) -> Notes:
        return self.win.notes

    def reset(self) -> None:
        """New notes from outside (open, transcription, live): no history, no selection."""
        self.win.undo_stack.clear()
        self.set_selection([])

    def set_selection(self, idx) -> None:
        idx = np.unique(np.asarray(idx, np.int64))
        idx = idx[(idx >= 0) & (idx < len(self.notes))]
        self.selection = idx
        self.win.timeline.set_selection(idx)
        self.sigSelectionChanged.emit(len(idx))

    def apply(self, notes: Notes, selection) -> None:
        """Called by undo commands: make ``notes`` the window's notes, select ``selection``."""
        self.win.show_notes(notes)
        self.set_selection(selection)
        self.sigEdited.emit()

    def push(self, text: str, after: Notes, sel_after, merge_id: int = -1) -> None:
        if after is self.notes:
            return
        self.win.undo_stack.push(NotesCommand(self, text, self.notes, after, self.selection, sel_after, merge_id))

    # ------------------------------------------------------------------ operations (API)
    def audition_selected(self) -> None:
        """Ask to hear the selected notes (their pitches and velocities), sorted by onset."""
        if len(self.selection):
            n = self.notes
            idx = self.selection[np.argsort(n.onset[self.selection], kind="stable")]
            self.sigAudition.emit(n.pitch[idx].copy(), n.velocity[idx].copy())

    def select_step(self, direction: int, t: float) -> int:
        """Select the next (+1) or previous (−1) note in time order (onset, then pitch): after
        the last selected note, or from time ``t`` (the playhead) when nothing is selected.
        Shows it (the view pages to it; the pitch range follows) and lets the user hear it.
        Returns its index, or −1 when there is none that way."""
        n = self.notes
        if not len(n) or not self.enabled:
            return -1
        if len(self.selection):
            i = int(self.selection.max() + 1) if direction > 0 else int(self.selection.min() - 1)
        else:
            i = int(np.searchsorted(n.onset, t - 1e-9)) if direction > 0 else \
                int(np.searchsorted(n.onset, t + 1e-9)) - 1
        if not 0 <= i < len(n):
            return -1
        self.set_selection([i])
        self.win.timeline.reveal(float(n.onset[i]), float(n.offset[i]), int(n.pitch[i]))
        self.audition_selected()
        return i

    def select_all(self) -> None:
        self.set_selection(np.arange(len(self.notes)))

    def delete_selected(self) -> None:
        n = len(self.selection)
        if n and self.enabled:
            after, sel = delete_notes(self.notes, self.selection)
            self.push(f"Delete {_count(n)}", after, sel)

    def add_note_at(self, t: float, pitch: float, velocity: int = NEW_NOTE_VELOCITY) -> None:
        """What a double-click on empty roll does: a 256 ms note at the frame nearest ``t``."""
        if not self.enabled:
            return
        after, sel = add_note(self.notes, float(snap(t)), int(round(pitch)), velocity=velocity)
        self.push(f"Add note {_note_name(int(after.pitch[sel[0]]))}", after, sel)
        self.audition_selected()

    def move_selected(self, dt: float, dp: int, merge: bool = False) -> None:
        if not len(self.selection) or not self.enabled:
            return
        dt, dp = clamp_move(self.notes, self.selection, dt, dp)
        if abs(dt) < 1e-12 and dp == 0:
            return
        after, sel = move_notes(self.notes, self.selection, dt, dp)
        self.push(f"Move {_count(len(sel))}", after, sel, MERGE_MOVE if merge else -1)
        if dp:
            self.audition_selected()  # hear the new pitch

    def nudge(self, frames: int = 0, semitones: int = 0) -> None:
        """Arrow keys: ±1 frame (32 ms) in time, ±1 semitone in pitch."""
        self.move_selected(frames * FRAME_SECONDS, semitones, merge=True)

    def change_velocity(self, dv: int) -> None:
        """+/− keys: the selected notes ``dv`` louder (softer); held keys undo as one step."""
        self.drag_velocity(self.notes.velocity[self.selection], dv)

    def drag_velocity(self, base, dv: int) -> None:
        """Velocity-lane drag: the selected notes get ``base`` (their velocities when the drag
        began) + ``dv``; the steps of one drag undo as one."""
        if not len(self.selection) or not self.enabled:
            return
        after, sel = set_velocities(self.notes, self.selection, base, dv)
        if np.array_equal(after.velocity, self.notes.velocity):
            return
        self.push(f"Change velocity of {_count(len(sel))}", after, sel, MERGE_VELOCITY)

    def resize_selected(self, d_on: float, d_off: float, merge: bool = False) -> None:
        """Move the start and/or end of the selected notes by ``d_on`` / ``d_off`` seconds."""
        if not len(self.selection) or not self.enabled:
            return
        d_on, d_off = clamp_resize(self.notes, self.selection, d_on, d_off)
        if abs(d_on) < 1e-12 and abs(d_off) < 1e-12:
            return
        after, sel = resize_notes(self.notes, self.selection, d_on, d_off)
        what = "start" if abs(d_on) > 1e-12 and abs(d_off) < 1e-12 else "length"
        self.push(f"Change {what} of {_count(len(sel))}", after, sel, MERGE_LENGTH if merge else -1)

    def nudge_length(self, frames: int) -> None:
        """Shift+arrow keys: make the selected notes one frame (32 ms) longer or shorter."""
        self.resize_selected(0.0, frames * FRAME_SECONDS, merge=True)

    def join_selected(self) -> None:
        """Join the selected notes of each key into one note (see :func:`join_notes`)."""
        if len(self.selection) < 2 or not self.enabled:
            return
        after, sel = join_notes(self.notes, self.selection)
        if len(after) < len(self.notes):
            self.push(f"Join {_count(len(self.selection))}", after, sel)

    def split_selected(self, t: float) -> None:
        """Split the selected notes that cross time ``t`` (the playhead) in two."""
        if not len(self.selection) or not self.enabled:
            return
        after, sel = split_notes(self.notes, self.selection, t)
        if len(after) > len(self.notes):
            self.push(f"Split {_count(len(after) - len(self.notes))}", after, sel)

    def quantise(self, division: int, bpm: float) -> None:
        """Snap the selected notes (all notes when none is selected) to 1/``division`` notes at
        ``bpm`` (a quarter note per beat): 16 → a grid of 60/bpm/4 s."""
        if not self.enabled or not len(self.notes):
            return
        idx = self.selection if len(self.selection) else np.arange(len(self.notes))
        after, sel = quantise_notes(self.notes, idx, 60.0 / bpm * 4.0 / division)
        if after.equals(self.notes, atol=1e-9):
            return
        self.push(f"Quantise {_count(len(idx))} to 1/{division} at {bpm:g} BPM", after,
                  sel if len(self.selection) else np.zeros(0, np.int64))

    def replace_all(self, notes: Notes, text: str) -> None:
        """An undoable replacement of every note (restore an autosave, transcribe again)."""
        self.push(text, notes, np.zeros(0, np.int64))

    # ------------------------------------------------------------------ mouse (from the roll ViewBox)
    def _view_point(self, vb, scene_pos):
        p = vb.mapSceneToView(scene_pos)
        return float(p.x()), float(p.y())

    def _slop(self, vb) -> float:
        px = vb.viewPixelSize()[0]
        return HIT_SLOP_PX * px

    def click(self, vb, ev) -> bool:
        """Left click on the roll. Returns True when the click was an edit (no seek)."""
        if not self.enabled or ev.button() != Qt.LeftButton:
            return False
        t, p = self._view_point(vb, ev.scenePos())
        i = hit_test(self.notes, t, p, self._slop(vb))
        extend = bool(ev.modifiers() & (Qt.ShiftModifier | Qt.ControlModifier))
        if i < 0 and not extend and self.candidate_handler is not None \
                and self.candidate_handler.click(t, p, self._slop(vb)):
            return True  # a candidate (ghost) note was accepted
        if ev.double():
            if i < 0:
                self.add_note_at(t, p)
            return True
        return self.click_select(i, extend, audition=True)

    def click_select(self, i: int, extend: bool, audition: bool = False) -> bool:
        """A click on note ``i`` (-1: on nothing) of the roll or the velocity lane: select it
        (``extend``: toggle it in the selection), or clear the selection. Returns True when a
        note was hit (the click is used up), False for empty space (the view also seeks)."""
        if i < 0:
            if not extend:
                self.set_selection([])
            return False
        if extend:
            sel = self.selection
            self.set_selection(sel[sel != i] if i in sel else np.append(sel, i))
        else:
            self.set_selection([i])
            if audition:
                self.audition_selected()
        return True

    def edge_at(self, vb, i: int, t: float) -> str | None:
        """"start" / "end" when view time ``t`` is on an edge of note ``i`` as drawn, else None."""
        px = vb.viewPixelSize()[0]
        on, off = float(self.notes.onset[i]), float(self.notes.offset[i])
        if (off - on) / px < MIN_RESIZABLE_PX:
            return None
        if abs(t - off) <= EDGE_PX * px:
            return "end"
        if abs(t - on) <= EDGE_PX * px:
            return "start"
        return None

    def hover(self, vb, scene_pos) -> Qt.CursorShape | None:
        """Cursor for the roll at ``scene_pos``: a resize arrow over note edges, else None."""
        if not self.enabled or self._drag is not None:
            return None
        t, p = self._view_point(vb, scene_pos)
        i = hit_test(self.notes, t, p, self._slop(vb))
        if i >= 0 and self.edge_at(vb, i, t) is not None:
            return Qt.SizeHorCursor
        return None

    def drag(self, vb, ev) -> bool:
        """Left drag on the roll: resize (from a note's edge), move notes (from inside a note) or
        rubber-band select (from empty space)."""
        if not self.enabled or ev.button() != Qt.LeftButton:
            return False
        tl = self.win.timeline
        if ev.isStart():
            t, p = self._view_point(vb, ev.buttonDownScenePos(Qt.LeftButton))
            i = hit_test(self.notes, t, p, self._slop(vb))
            extend = bool(ev.modifiers() & (Qt.ShiftModifier | Qt.ControlModifier))
            if i >= 0:
                if i not in self.selection:
                    self.set_selection(np.append(self.selection, i) if extend else [i])
                edge = self.edge_at(vb, i, t)
                kind = "move" if edge is None else edge
                self._drag = {"kind": kind, "t": t, "p": p, "dt": 0.0, "dp": 0}
            else:
                self._drag = {"kind": "band", "t": t, "p": p, "extend": extend,
                              "base": self.selection.copy() if extend else np.zeros(0, np.int64)}
        d = self._drag
        if d is None:
            return True
        t, p = self._view_point(vb, ev.scenePos())
        if d["kind"] in ("start", "end"):
            delta = float(snap(t - d["t"]))
            d_on, d_off = clamp_resize(self.notes, self.selection, *((delta, 0.0) if d["kind"] == "start" else (0.0, delta)))
            tl.set_selection(self.selection, resize=(d_on, d_off))
            if ev.isFinish():
                tl.set_selection(self.selection)
                self._drag = None
                self.resize_selected(d_on, d_off)
        elif d["kind"] == "move":
            dt, dp = clamp_move(self.notes, self.selection, float(snap(t - d["t"])), int(round(p - d["p"])))
            d["dt"], d["dp"] = dt, dp
            tl.set_selection_offset(dt, dp)
            if ev.isFinish():
                tl.set_selection_offset(0.0, 0)
                self._drag = None
                self.move_selected(dt, dp)
        else:
            rect = QRectF(min(d["t"], t), min(d["p"], p), abs(t - d["t"]), abs(p - d["p"]))
            tl.set_rubber_band(rect)
            inside = notes_in_rect(self.notes, d["t"], t, d["p"], p)
            self.set_selection(np.union1d(d["base"], inside))
            if ev.isFinish():
                tl.set_rubber_band(None)
                self._drag = None
        ev.accept()
        return True


def _note_name(pitch: int) -> str:
    from .views import note_name

    return note_name(pitch)


class VelocityLaneEditor:
    """Mouse editing on the velocity lane: click a stem to select its note, drag a stem up or
    down to change the velocity of the selected notes (each keeps its offset from the others)."""

    def __init__(self, editor: NoteEditor, vb):
        self.editor = editor
        self.vb = vb
        self._drag: dict | None = None
        vb.edit_handler = self

    def _hit(self, vb, scene_pos) -> tuple[int, float]:
        pt = vb.mapSceneToView(scene_pos)
        px_t, px_v = vb.viewPixelSize()
        return velocity_hit(self.editor.notes, pt.x(), pt.y(), px_t, px_v), float(pt.y())

    def click(self, vb, ev) -> bool:
        ed = self.editor
        if not ed.enabled or ev.button() != Qt.LeftButton or ev.double():
            return False
        i, _ = self._hit(vb, ev.scenePos())
        return ed.click_select(i, bool(ev.modifiers() & (Qt.ShiftModifier | Qt.ControlModifier)))

    def hover(self, vb, scene_pos) -> Qt.CursorShape | None:
        if not self.editor.enabled or self._drag is not None:
            return None
        return Qt.SizeVerCursor if self._hit(vb, scene_pos)[0] >= 0 else None

    def drag(self, vb, ev) -> bool:
        ed = self.editor
        if not ed.enabled or ev.button() != Qt.LeftButton:
            return False
        if ev.isStart():
            i, v = self._hit(vb, ev.buttonDownScenePos(Qt.LeftButton))
            if i < 0:
                self._drag = None
                return False  # pan the lane as before
            if i not in ed.selection:
                ed.set_selection([i])
            self._drag = {"v": v, "base": ed.notes.velocity[ed.selection].astype(np.int64)}
        d = self._drag
        if d is None:
            return False
        v = float(vb.mapSceneToView(ev.scenePos()).y())
        ed.drag_velocity(d["base"], int(round(v - d["v"])))
        if ev.isFinish():
            self._drag = None
        ev.accept()
        return True
