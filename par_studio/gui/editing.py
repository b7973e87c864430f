"""Note editing on the piano roll: pure-numpy edits and hit-testing, undo commands, mouse/keys.

Every edit builds a *new* :class:`~par_studio.notes.Notes` (sorted by onset, pitch) and pushes
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

from ..constants import FRAME_SECONDS, MAX_MIDI, MIN_MIDI
from ..notes import Notes

NEW_NOTE_FRAMES = 8  #: a double-click adds 8 frames = 256 ms (the frame grid nearest 250 ms)
NEW_NOTE_VELOCITY = 80
MERGE_WINDOW_S = 1.0  #: nudges/velocity steps this close together undo as one step
HIT_SLOP_PX = 3.0  #: very short notes stay clickable: this many pixels either side
EDGE_PX = 5.0  #: a drag starting this close to a note's start or end resizes it
MIN_RESIZABLE_PX = 3 * EDGE_PX  #: notes drawn narrower than this are only moved


# =========================================================================== pure edits
def snap(t) -> np.ndarray | float:
    """Seconds → nearest point of the 32 ms frame grid."""
    return np.round(np.asarray(t, np.float64) / FRAME_SECONDS) * FRAME_SECONDS


def _sorted_with_selection(notes: Notes, selected: np.ndarray) -> tuple[Notes, np.ndarray]:
    """Sort ``notes`` by (onset, pitch) and return where the ``selected`` rows went."""
    order = np.lexsort((notes.pitch, notes.onset))
    out = notes.take(order)
    mask = np.zeros(len(notes), bool)
    mask[np.asarray(selected, np.int64)] = True
    return out, np.flatnonzero(mask[order])


def hit_test(notes: Notes, t: float, pitch: float, slop_s: float = 0.0) -> int:
    """Index of the note under (``t`` s, ``pitch``), or -1. Among overlapping notes of the key,
    the one that started last wins (it is the one the eye sees at that point)."""
    if len(notes) == 0:
        return -1
    p = int(np.round(pitch))
    on = notes.onset - slop_s
    off = np.maximum(notes.offset, notes.onset + 1e-3) + slop_s
    idx = np.flatnonzero((notes.pitch == p) & (on <= t) & (off >= t))
    if len(idx) == 0:
        return -1
    return int(idx[np.argmax(notes.onset[idx])])


def notes_in_rect(notes: Notes, t0: float, t1: float, p0: float, p1: float) -> np.ndarray:
    """Indices of the notes whose bar intersects the time range [t0, t1] and pitch rows [p0, p1]."""
    t0, t1 = min(t0, t1), max(t0, t1)
    p0, p1 = min(p0, p1), max(p0, p1)
    pitch = notes.pitch.astype(np.float64)
    hit = (notes.onset <= t1) & (notes.offset >= t0) & (pitch + 0.4 >= p0) & (pitch - 0.4 <= p1)
    return np.flatnonzero(hit)


def delete_notes(notes: Notes, idx) -> tuple[Notes, np.ndarray]:
    keep = np.ones(len(notes), bool)
    keep[np.asarray(idx, np.int64)] = False
    return notes.take(keep), np.zeros(0, np.int64)


def add_note(notes: Notes, onset: float, pitch: int, duration: float = NEW_NOTE_FRAMES * FRAME_SECONDS,
             velocity: int = NEW_NOTE_VELOCITY) -> tuple[Notes, np.ndarray]:
    """Add one note (pitch clipped to the piano, onset ≥ 0); returns the notes and its index."""
    onset = max(0.0, float(onset))
    pitch = int(np.clip(int(round(pitch)), MIN_MIDI, MAX_MIDI))
    new = Notes([onset], [onset + max(float(duration), FRAME_SECONDS)], [pitch],
                [int(np.clip(velocity, 1, 127))])
    both = Notes(np.concatenate([notes.onset, new.onset]), np.concatenate([notes.offset, new.offset]),
                 np.concatenate([notes.pitch, new.pitch]), np.concatenate([notes.velocity, new.velocity]))
    return _sorted_with_selection(both, np.array([len(notes)]))


def clamp_move(notes: Notes, idx, dt: float, dp: int) -> tuple[float, int]:
    """Limit a move so the moved notes stay at t ≥ 0 and on the 88 keys."""
    idx = np.asarray(idx, np.int64)
    if len(idx) == 0:
        return 0.0, 0
    dt = max(float(dt), -float(notes.onset[idx].min()))
    lo, hi = int(notes.pitch[idx].min()), int(notes.pitch[idx].max())
    dp = int(np.clip(int(dp), MIN_MIDI - lo, MAX_MIDI - hi))
    return dt, dp


def move_notes(notes: Notes, idx, dt: float, dp: int) -> tuple[Notes, np.ndarray]:
    """Shift the ``idx`` notes by ``dt`` seconds and ``dp`` semitones (clamped, see clamp_move)."""
    idx = np.asarray(idx, np.int64)
    dt, dp = clamp_move(notes, idx, dt, dp)
    on, off, p = notes.onset.copy(), notes.offset.copy(), notes.pitch.copy()
    on[idx] += dt
    off[idx] += dt
    p[idx] += dp
    return _sorted_with_selection(Notes(on, off, p, notes.velocity), idx)


def clamp_resize(notes: Notes, idx, d_on: float, d_off: float) -> tuple[float, float]:
    """Limit an edge drag so every resized note keeps onset ≥ 0 and at least one frame (32 ms)."""
    idx = np.asarray(idx, np.int64)
    if len(idx) == 0:
        return 0.0, 0.0
    on, off = notes.onset[idx], notes.offset[idx]
    room = float((off - on - FRAME_SECONDS).min())  # how far the shortest note may shrink
    d_on = float(np.clip(d_on, -float(on.min()), max(0.0, room)))
    d_off = max(float(d_off), min(0.0, -room))
    return d_on, d_off


def resize_notes(notes: Notes, idx, d_on: float, d_off: float) -> tuple[Notes, np.ndarray]:
    """Move the start (``d_on`` s) and/or end (``d_off`` s) of the ``idx`` notes (clamped)."""
    idx = np.asarray(idx, np.int64)
    d_on, d_off = clamp_resize(notes, idx, d_on, d_off)
    on, off = notes.onset.copy(), notes.offset.copy()
    on[idx] += d_on
    off[idx] += d_off
    return _sorted_with_selection(Notes(on, off, notes.pitch, notes.velocity), idx)


def join_notes(notes: Notes, idx) -> tuple[Notes, np.ndarray]:
    """Join the selected notes key by key: the notes of one key become one note from the first
    onset to the last offset, with the first note's velocity (undoes a split the model made)."""
    idx = np.asarray(idx, np.int64)
    keep = np.ones(len(notes), bool)
    off = notes.offset.copy()
    firsts = []
    for p in np.unique(notes.pitch[idx]):
        same = idx[notes.pitch[idx] == p]
        same = same[np.argsort(notes.onset[same], kind="stable")]
        off[same[0]] = notes.offset[same].max()
        keep[same[1:]] = False
        firsts.append(same[0])
    joined = Notes(notes.onset, off, notes.pitch, notes.velocity)
    new_index = np.cumsum(keep) - 1
    return joined.take(keep), np.sort(new_index[np.asarray(firsts, np.int64)])


def split_notes(notes: Notes, idx, t: float) -> tuple[Notes, np.ndarray]:
    """Split every ``idx`` note that sounds across ``t`` (snapped to the frame grid) in two; both
    halves keep the velocity and stay selected. Notes that do not cross ``t`` are unchanged."""
    idx = np.asarray(idx, np.int64)
    t = float(snap(t))
    cut = idx[(notes.onset[idx] + FRAME_SECONDS / 2 <= t) & (notes.offset[idx] - FRAME_SECONDS / 2 >= t)]
    if len(cut) == 0:
        return notes, idx
    off = notes.offset.copy()
    off[cut] = t
    both = Notes(np.concatenate([notes.onset, np.full(len(cut), t)]),
                 np.concatenate([off, notes.offset[cut]]),
                 np.concatenate([notes.pitch, notes.pitch[cut]]),
                 np.concatenate([notes.velocity, notes.velocity[cut]]))
    return _sorted_with_selection(both, np.concatenate([idx, len(notes) + np.arange(len(cut))]))


def quantise_notes(notes: Notes, idx, grid_s: float) -> tuple[Notes, np.ndarray]:
    """Snap the starts and ends of the ``idx`` notes to multiples of ``grid_s`` seconds from
    0 s (where MIDI tick 0 is, so the grid is whole ticks in the exported file). A note keeps
    at least one grid step."""
    idx = np.asarray(idx, np.int64)
    if grid_s <= 0:
        raise ValueError(f"grid must be positive, got {grid_s}")
    on, off = notes.onset.copy(), notes.offset.copy()
    q_on = np.round(on[idx] / grid_s) * grid_s
    q_off = np.maximum(np.round(off[idx] / grid_s) * grid_s, q_on + grid_s)
    on[idx], off[idx] = q_on, q_off
    return _sorted_with_selection(Notes(on, off, notes.pitch, notes.velocity), idx)


def velocity_hit(notes: Notes, t: float, v: float, px_t: float, px_v: float, slop_px: float = 6.0) -> int:
    """Index of the note whose velocity stem (at its onset, from 0 up to its velocity) is at
    view point (``t`` s, ``v``) of the velocity lane, within ``slop_px`` pixels (``px_t`` s and
    ``px_v`` velocity units per pixel); among overlapping stems the nearest head; else -1."""
    if not len(notes):
        return -1
    near = (np.abs(notes.onset - t) <= slop_px * px_t) & (v <= notes.velocity + slop_px * px_v)
    idx = np.flatnonzero(near)
    if not len(idx):
        return -1
    return int(idx[np.argmin(np.abs(notes.velocity[idx] - v))])


def set_velocities(notes: Notes, idx, base, dv: int) -> tuple[Notes, np.ndarray]:
    """Notes ``idx`` get velocity ``base + dv`` (``base``: their velocities before), clamped to 1..127."""
    idx = np.asarray(idx, np.int64)
    v = notes.velocity.astype(np.int64)
    v[idx] = np.clip(np.asarray(base, np.int64) + int(dv), 1, 127)
    return Notes(notes.onset, notes.offset, notes.pitch, v), idx


def change_velocity(notes: Notes, idx, dv: int) -> tuple[Notes, np.ndarray]:
    """Notes ``idx`` get ``dv`` louder (softer when negative), clamped to 1..127."""
    idx = np.asarray(idx, np.int64)
    return set_velocities(notes, idx, notes.velocity[idx], dv)


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
