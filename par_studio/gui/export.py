"""Export of the main window: MIDI/CSV export and its tempo, import of notes, saving a live take.

What is drawn is what is exported: every export writes ``self.notes``, atomically.
A mixin of :class:`~.main_window.MainWindow`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from ..errors import ParStudioError
from ..midi_io import DEFAULT_TEMPO

LIVE_INPUT = "live input"  #: LoadedAudio.path of a live recording (no file yet)


class ExportMixin:
    """Export, import, the MIDI tempo setting and Save recording."""

    def export_dialog(self, kind: str) -> None:
        if not len(self.notes):
            self.statusBar().showMessage("Nothing to export yet: no notes.", 5000)
            return
        folder = Path(str(self.settings.value("files/export_folder", self.settings.value("files/last_folder", Path.home()))))
        stem = Path(self.loaded.path).stem if self.loaded else "transcription"
        filt = "MIDI files (*.mid *.midi)" if kind == "mid" else "CSV files (*.csv)"
        path, _ = QFileDialog.getSaveFileName(self, "Export MIDI" if kind == "mid" else "Export CSV",
                                              str(folder / f"{stem}.{kind}"), filt)
        if path:
            self.export(path)

    def export_tempo_setting(self) -> float:
        """The MIDI tempo setting: 0 = detect from the notes, else a fixed BPM."""
        try:
            return float(self.settings.value("export/tempo", 0.0))
        except (TypeError, ValueError):
            return 0.0

    def set_export_tempo(self, bpm: float) -> None:
        self.settings.setValue("export/tempo", float(bpm))
        self._show_tempo_setting()
        self._set_info()

    def ask_export_tempo(self) -> None:
        from PySide6.QtWidgets import QInputDialog

        current = self.export_tempo_setting() or self.export_tempo()
        bpm, ok = QInputDialog.getDouble(self, "MIDI tempo", "Tempo written to exported MIDI files (BPM):",
                                         current, 20.0, 400.0, 1)
        if ok:
            self.set_export_tempo(bpm)
        else:
            self._show_tempo_setting()

    def _show_tempo_setting(self) -> None:
        fixed = self.export_tempo_setting()
        self.act_tempo_auto.setChecked(not fixed)
        self.act_tempo_fixed.setChecked(bool(fixed))
        self.act_tempo_fixed.setText(f"Fixed tempo: {fixed:g} BPM…" if fixed else "Fixed tempo…")

    def export_tempo(self) -> float:
        """The tempo (BPM) the next MIDI export writes: the fixed setting, or the tempo detected
        from the notes shown (cached per notes object; 120 when there are too few notes)."""
        from ..tempo import estimate_tempo

        fixed = self.export_tempo_setting()
        if fixed:
            return fixed
        notes, bpm = self._detected_tempo
        if notes is not self.notes:
            bpm = estimate_tempo(self.notes)
            self._detected_tempo = (self.notes, bpm)
        return bpm if bpm is not None else DEFAULT_TEMPO

    def import_dialog(self) -> None:
        folder = str(self.settings.value("files/export_folder", self.settings.value("files/last_folder", Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Import notes", folder,
                                              "Notes (*.mid *.midi *.csv);;All files (*)")
        if path:
            self.import_notes(path)

    def import_notes(self, path) -> bool:
        """Show the notes of a MIDI/CSV file instead of the current ones (one undoable step)."""
        from ..midi_io import import_notes

        if self.live is not None:
            return False
        try:
            notes, dropped = import_notes(path)
        except ParStudioError as exc:
            self.show_error(str(exc), "Import failed")
            return False
        if dropped and not len(notes):
            self.show_error(f"{Path(path).name}: none of its {dropped} notes is a valid piano note "
                            "(pitch 21..108, 0 ≤ start < end, velocity 0..127); nothing imported.",
                            "Import failed")
            return False
        self.editor.replace_all(notes.sorted(), f"Import {Path(path).name}")
        if self.loaded is None:
            self.timeline.set_extent(max(notes.end_time(), 1.0))
            self.timeline.fit(notes.end_time() or 1.0)
        if dropped:
            self.show_error(f"{Path(path).name}: {dropped} invalid note{'s were' if dropped != 1 else ' was'} "
                            "left out (pitch off the piano's 21..108, impossible times or velocity); "
                            f"{len(notes)} notes imported.", "Import: some notes left out")
        else:
            self.statusBar().showMessage(f"Imported {len(notes)} notes from {path}", 8000)
        return True

    def export(self, path) -> Path | None:
        """Write the notes shown (``self.notes``) to ``path`` (.csv → CSV, else MIDI)."""
        from ..midi_io import write_csv, write_midi

        path = Path(path)
        try:
            if path.suffix.lower() == ".csv":
                out = write_csv(self.notes, path)
            else:
                if path.suffix.lower() not in (".mid", ".midi"):
                    path = path.with_suffix(".mid")
                notes, tempo, ts, downbeat = self.midi_export_payload()  # grid (score_actions.py)
                out = write_midi(notes, path, tempo=tempo, time_signature=ts, downbeat_s=downbeat)
        except (ParStudioError, OSError, ValueError) as exc:
            self.show_error(str(exc) if isinstance(exc, ParStudioError) else
                            f"Could not write {path}: {getattr(exc, 'strerror', None) or exc}", "Export failed")
            return None
        self.settings.setValue("files/export_folder", str(path.parent))
        self.undo_stack.setClean()
        self.session.mark_exported()
        at = "" if out.suffix.lower() == ".csv" else f" at {tempo:g} BPM"
        self.statusBar().showMessage(f"Exported {len(self.notes)} notes to {out}{at}", 8000)
        return out

    def is_live_recording(self) -> bool:
        """The audio shown comes from a live session (kept in the recordings folder, or only
        in memory)."""
        if self.loaded is None:
            return False
        p = Path(self.loaded.path)
        return self.loaded.path == LIVE_INPUT or p.parent.resolve() == self.recordings_dir.resolve()

    def save_recording_dialog(self) -> None:
        if self.loaded is None:
            return
        folder = self.settings.value("files/export_folder", str(Path.home()))
        path, _ = QFileDialog.getSaveFileName(self, "Save recording", str(Path(folder) / "recording.flac"),
                                              "FLAC (*.flac);;WAV (*.wav)")
        if path:
            self.save_recording(path)

    def save_recording(self, path) -> Path | None:
        """Write the live recording to ``path`` atomically (FLAC or WAV): the take as recorded,
        at the input's own rate and channels, or (if it could not be recorded to disk) the
        16 kHz mono audio shown."""
        from ..audio.io import write_audio
        from ..audio.recorder import copy_recording

        rec = Path(self.loaded.path)
        try:
            if self.loaded.path != LIVE_INPUT and rec.is_file():
                out = copy_recording(rec, path)
            else:
                out = write_audio(self.loaded.audio, path)
        except (OSError, RuntimeError, ValueError) as exc:
            self.show_error(f"Could not write {path}: {getattr(exc, 'strerror', None) or exc}. "
                            "Choose another folder or free some disk space.", "Save failed")
            return None
        self.settings.setValue("files/export_folder", str(out.parent))
        self.statusBar().showMessage(f"Saved the recording ({self.loaded.duration:.1f} s) to {out}", 8000)
        return out
