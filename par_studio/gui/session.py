"""Edits survive a crash: autosave of the edited notes, and the offer to restore them.

After every change of the undo stack (edit, undo, redo) the window's notes are written, shortly
after (coalesced for held keys) and atomically (:func:`par_studio.midi_io.atomic_write_bytes`),
to a JSON sidecar in a per-user folder (``QStandardPaths.AppDataLocation``/autosave). The file
name is a hash of the audio file's resolved path, size and modification time, so an edited or
replaced recording never picks up stale notes. Undoing back to the transcription removes it.

When that audio file is opened again, :class:`EditSession` waits for the fresh transcription
(or for the message that there is none) and, if the autosave differs from it, shows a
non-modal bar above the views: *Restore* applies it as one undoable step, *Discard* deletes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, QStandardPaths, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

from ..midi_io import atomic_write_bytes
from ..notes import Notes, validate_notes
from . import theme

FORMAT_VERSION = 1
AUTOSAVE_DELAY_MS = 150


def default_autosave_dir(settings: QSettings | None = None) -> Path:
    """``<AppDataLocation>/autosave``; beside the INI file when settings live in one (tests,
    screenshots), so such runs never touch the user's folder."""
    if settings is not None and settings.format() == QSettings.IniFormat and settings.fileName():
        return Path(settings.fileName()).resolve().parent / "autosave"
    base = QStandardPaths.writableLocation(QStandardPaths.AppDataLocation)
    return Path(base or Path.home() / ".par-studio") / "autosave"


def audio_identity(path) -> dict | None:
    """What keys an autosave: resolved path, size, mtime (None for no real file)."""
    try:
        p = Path(path).resolve()
        st = p.stat()
    except (OSError, TypeError, ValueError):
        return None
    if not p.is_file():
        return None
    return {"path": str(p), "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


class AutosaveStore:
    """JSON sidecars, one per audio identity, in ``root``."""

    def __init__(self, root):
        self.root = Path(root)

    def file_for(self, ident: dict) -> Path:
        key = f"{ident['path']}|{ident['size']}|{ident['mtime_ns']}"
        # surrogateescape: a file name that is not UTF-8 keys its autosave by its raw bytes
        return self.root / f"{hashlib.sha1(key.encode('utf-8', 'surrogateescape')).hexdigest()[:24]}.json"

    def save(self, ident: dict, notes: Notes, exported: bool = False) -> Path:
        doc = {
            "format": "par-studio-autosave", "version": FORMAT_VERSION, "audio": ident,
            "saved_at": time.time(), "exported": bool(exported), "n_notes": len(notes),
            # Python floats round-trip exactly through JSON (shortest repr)
            "onset": notes.onset.tolist(), "offset": notes.offset.tolist(),
            "pitch": notes.pitch.astype(int).tolist(), "velocity": notes.velocity.astype(int).tolist(),
        }
        return atomic_write_bytes(self.file_for(ident), json.dumps(doc, separators=(",", ":")).encode())

    def load(self, ident: dict) -> tuple[Notes, dict] | None:
        path = self.file_for(ident)
        try:
            doc = json.loads(path.read_text())
            if doc.get("format") != "par-studio-autosave" or doc.get("audio") != ident:
                return None
            cols = [doc[k] for k in ("onset", "offset", "pitch", "velocity")]
            if not all(isinstance(c, list) for c in cols):
                return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # missing or unreadable: nothing to offer
        # a damaged autosave keeps only the notes the engine's rules allow; the offer says so
        notes, doc["dropped"] = validate_notes(*cols)
        return notes, doc

    def remove(self, ident: dict) -> None:
        try:
            os.unlink(self.file_for(ident))
        except OSError:
            pass


class RestoreBar(QFrame):
    """Non-modal offer above the views: text, Restore, Discard."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setStyleSheet(f"QFrame {{ background:{theme.PANEL}; border-bottom:1px solid {theme.ACCENT}; }}"
                           "QLabel { border:none; }")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 10, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.restore_button = QPushButton("Restore edits")
        self.restore_button.setToolTip("Replace the fresh transcription with your autosaved edits (undoable)")
        self.discard_button = QPushButton("Discard")
        self.discard_button.setToolTip("Delete the autosaved edits and keep the fresh transcription")
        lay.addWidget(self.label, 1)
        lay.addWidget(self.restore_button)
        lay.addWidget(self.discard_button)
        self.setVisible(False)


class EditSession(QObject):
    """Autosave and restore for one window. The window calls :meth:`begin` when a file is
    loaded, :meth:`transcription_ready` when its first notes are in, :meth:`mark_exported`."""

    sigAutosaved = Signal(str)  #: path written
    sigRestoreOffered = Signal(int)  #: number of notes in the autosave
    sigRestored = Signal()

    def __init__(self, window, root=None):
        super().__init__(window)
        self.win = window
        self.store = AutosaveStore(root if root is not None else default_autosave_dir(window.settings))
        self.ident: dict | None = None
        self.pending: tuple[Notes, dict] | None = None
        self.exported = False
        self.last_error = ""
        self.dirty = False  #: an autosave is due (written by the timer or by flush)
        self.bar = RestoreBar()
        self.bar.restore_button.clicked.connect(self.restore)
        self.bar.discard_button.clicked.connect(self.discard)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(AUTOSAVE_DELAY_MS)
        self.timer.timeout.connect(self.flush)
        window.editor.sigEdited.connect(self._edited)

    # ------------------------------------------------------------------ open / offer
    def begin(self, audio_path) -> None:
        """A file was loaded: remember its identity and any autosave waiting for it."""
        self.flush()
        self.bar.setVisible(False)
        self.ident = audio_identity(audio_path)
        self.exported = False
        self.pending = self.store.load(self.ident) if self.ident else None

    def end(self) -> None:
        """Live input replaces the file: nothing to autosave against."""
        self.flush()
        self.bar.setVisible(False)
        self.ident, self.pending = None, None

    def transcription_ready(self, fresh: Notes) -> None:
        """The notes of the opened file are in (``fresh``; empty without a model): offer the
        autosave if it differs, else drop it."""
        if self.pending is None:
            return
        notes, doc = self.pending
        if notes.equals(fresh):
            self.pending = None
            self.store.remove(self.ident)
            return
        try:
            when = time.strftime("%d %b %Y %H:%M", time.localtime(float(doc.get("saved_at", 0))))
        except (TypeError, ValueError, OverflowError, OSError):
            when = "an unknown date"
        note = " (they were exported)" if doc.get("exported") else ""
        dropped = doc.get("dropped", 0)
        damaged = (f" The autosave was damaged: {dropped} invalid note{'s' if dropped != 1 else ''} "
                   "(impossible pitch, time or velocity) will be left out." if dropped else "")
        self.bar.label.setText(f"Edited notes of this recording were autosaved on {when}{note}: "
                               f"{len(notes)} notes, the new transcription has {len(fresh)}.{damaged}")
        self.bar.setVisible(True)
        self.sigRestoreOffered.emit(len(notes))

    def restore(self) -> None:
        if self.pending is None:
            return
        notes, _ = self.pending
        self.pending = None
        self.bar.setVisible(False)
        self.win.editor.replace_all(notes, "Restore autosaved edits")
        self.sigRestored.emit()

    def discard(self) -> None:
        self.pending = None
        self.bar.setVisible(False)
        if self.ident:
            self.store.remove(self.ident)

    # ------------------------------------------------------------------ save
    def _edited(self) -> None:
        if self.ident is not None and self.win.live is None:
            self.dirty = True
            self.timer.start()

    def mark_exported(self) -> None:
        self.exported = True
        if self.win.undo_stack.index() > 0 and self.ident is not None:
            self.dirty = True
            self.timer.start()

    def flush(self) -> None:
        """Write (or, back at the unedited transcription, remove) the autosave now."""
        self.timer.stop()
        if not self.dirty:
            return
        self.dirty = False
        if self.ident is None:
            return
        if self.win.undo_stack.index() == 0:
            self.store.remove(self.ident)
            return
        try:
            path = self.store.save(self.ident, self.win.notes, self.exported)
        except OSError as exc:  # a full disk must not break editing
            self.last_error = f"Could not autosave the edits: {exc.strerror or exc}"
            self.win.statusBar().showMessage(self.last_error, 8000)
            return
        self.sigAutosaved.emit(str(path))

    def autosave_path(self) -> Path | None:
        return self.store.file_for(self.ident) if self.ident else None
