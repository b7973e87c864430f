"""Tempo, meter, the beat grid and score export in the main window.

The grid is the meter detected with the transcription (off the GUI thread, see
:mod:`.workers`), or a steady one at the tempo the user typed or tapped and the time signature
picked (View → Tempo and meter). It is drawn under the notes (:mod:`.beatgrid`); Quantise
snaps to it; File → Export score… writes MusicXML on it and first puts the same quantised notes
on the roll (one undo step), so the roll shows what the score says. With the grid off (View →
Beat grid), the roll and Quantise are in seconds at the MIDI tempo as before.
A mixin of :class:`~.main_window.MainWindow`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import QFileDialog

from ..errors import ParStudioError
from ..notes import Notes
from .beatgrid import BarTimeAxis, BeatGridItem, TapTempo

METERS = ("2/4", "3/4", "4/4", "6/8", "9/8", "12/8")  #: time signatures offered in the menu
GRID_STEPS = {8: 24, 16: 12, 32: 6}  #: Quantise 1/n note → grid step in ticks (48 per quarter)


def snap_to_grid(notes: Notes, idx, meter, step_ticks: int) -> tuple[Notes, np.ndarray]:
    """Snap the starts and ends of the ``idx`` notes to every ``step_ticks`` (48 per quarter)
    of ``meter``'s beats; a note keeps at least one step. Returns (notes sorted, new indices
    of ``idx``)."""
    from ..quantise import TICKS

    idx = np.asarray(idx, np.int64)
    on, off = notes.onset.copy(), notes.offset.copy()
    step_q = step_ticks / TICKS
    q_on = np.round(meter.quarters_at(on[idx]) / step_q) * step_q
    q_off = np.maximum(np.round(meter.quarters_at(off[idx]) / step_q) * step_q, q_on + step_q)
    on[idx], off[idx] = meter.seconds_at(q_on), meter.seconds_at(q_off)
    moved = Notes(on, off, notes.pitch, notes.velocity)
    order = np.lexsort((moved.pitch, moved.onset))
    where = np.empty(len(order), np.int64)
    where[order] = np.arange(len(order))
    return moved.take(order), np.sort(where[idx])


class ScoreMixin:
    """Beat grid, tempo (typed/tapped), meter, Quantise to the grid, Export score."""

    # ------------------------------------------------------------------ set-up
    def _build_score_ui(self) -> None:
        """Put the grid item and the bar axis into the timeline (call after it exists)."""
        self._meter_detected = None  #: tempo.Meter detected from the notes, or None
        self._meter_for = None  #: (LoadedAudio or notes) the detection belongs to
        self.tapper = TapTempo()

    def _build_score_actions(self) -> None:
        """Actions and their menu places (call after the menus exist)."""
        act = self._act
        self.act_beat_grid = act("&Beat grid", self._beat_grid_toggled, "G", checkable=True,
                                 tip="Show beats and bars under the notes and bar numbers on the time "
                                     "axis (G); Quantise snaps to this grid. Off: seconds")
        self.act_tap = act("&Tap tempo", self.tap_tempo, "T",
                           tip="Tap T on the beat (4 taps or more) to set the tempo of the grid and "
                               "the exports")
        self.act_export_score = act("Export &score (MusicXML)…", self.export_score_dialog, "Ctrl+Shift+X",
                                    tip="Write a MusicXML score for MuseScore, Sibelius or Dorico: two "
                                        "staves, notes on the beat grid; the roll shows the same "
                                        "quantised notes afterwards (one undo step)")
        self.act_midi_quantised = act("Quantised to the beat grid", self._midi_quantised_toggled,
                                      checkable=True,
                                      tip="Exported MIDI files get the notes on the beat grid at a "
                                          "steady tempo (as in the score); off: the played times")
        self.meter_group = QActionGroup(self)
        self.meter_actions = {}
        for name in ("detect",) + METERS:
            a = act("Detect from the notes" if name == "detect" else name,
                    lambda _=False, m=name: self.set_meter_setting("" if m == "detect" else m), checkable=True)
            self.meter_group.addAction(a)
            self.meter_actions[name] = a
        # menus
        fm = self.file_menu
        fm.insertAction(self.act_import, self.act_export_score)
        self.tempo_menu.addSeparator()
        self.tempo_menu.addAction(self.act_midi_quantised)
        vm = self.view_menu
        first = vm.actions()[0] if vm.actions() else None
        vm.insertAction(first, self.act_beat_grid)
        tm = vm.addMenu("Tempo and &meter")
        vm.insertMenu(first, tm)
        tm.addAction(self.act_tempo_auto)
        tm.addAction(self.act_tempo_fixed)
        tm.addAction(self.act_tap)
        tm.addSeparator()
        for a in self.meter_actions.values():
            tm.addAction(a)
        vm.insertSeparator(first)
        # Quantise (Edit) snaps to the beat grid while it is shown
        for a, div in zip(self.quantise_actions, (8, 16, 32)):
            a.triggered.disconnect()
            a.triggered.connect(lambda _=False, d=div: self.quantise_to_grid(d))
            a.setToolTip(f"Snap the selected notes (or all) to 1/{div} notes of the beat grid (or of "
                         "the MIDI tempo from 0 s with the grid off); one undo step")
        s = self.settings
        self.act_beat_grid.setChecked(str(s.value("view/beat_grid", "true")).lower() == "true")
        self.act_midi_quantised.setChecked(str(s.value("export/midi_quantised", "false")).lower() == "true")
        self.meter_actions.get(self.meter_setting() or "detect", self.meter_actions["detect"]).setChecked(True)

    # ------------------------------------------------------------------ settings
    def meter_setting(self) -> str:
        """The time signature picked ("" = detect from the notes)."""
        v = str(self.settings.value("score/meter", "") or "")
        return v if v in METERS else ""

    def set_meter_setting(self, ts: str) -> None:
        self.settings.setValue("score/meter", ts)
        self.meter_actions[ts or "detect"].setChecked(True)
        self.refresh_grid()

    def _beat_grid_toggled(self, on: bool) -> None:
        self.settings.setValue("view/beat_grid", bool(on))
        self.refresh_grid()

    def _midi_quantised_toggled(self, on: bool) -> None:
        self.settings.setValue("export/midi_quantised", bool(on))

    # ------------------------------------------------------------------ the grid
    def on_meter_detected(self, notes: Notes, meter) -> None:
        """The transcription's meter (from the worker): kept while this audio is open."""
        self._meter_detected = meter
        self._meter_for = self.loaded
        self.refresh_grid()

    def current_meter(self):
        """The grid now: the detected meter, or a steady one at the typed/tapped tempo in the
        picked time signature; None when there are no notes to place it."""
        from ..tempo import resolve_meter

        if not len(self.notes):
            return None
        key = self.loaded if self.loaded is not None else "notes"
        if self._meter_for is not key:  # other audio, or notes not transcribed here (imported)
            self._meter_detected = None
            if len(self.notes) and self.live is None:
                from ..tempo import estimate_meter

                self._meter_detected = estimate_meter(self.notes)  # once for these
                self._meter_for = key
        end = max(self.loaded.duration if self.loaded is not None else 0.0,
                  float(self.notes.offset.max()) if len(self.notes) else 0.0) + 2.0
        fixed = self.export_tempo_setting()
        ts = self.meter_setting() or None
        est = self._meter_detected
        if est is None and not fixed and ts is None:
            return None
        return resolve_meter(fixed or "auto", None, ts, end_s=end, estimate=est,
                             first_onset=float(self.notes.onset.min()) if len(self.notes) else 0.0)

    def refresh_grid(self) -> None:
        show = getattr(self, "act_beat_grid", None) is not None and self.act_beat_grid.isChecked()
        meter = self.current_meter() if show else None
        self.timeline.set_meter(meter)

    def tap_tempo(self) -> None:
        bpm = self.tapper.tap(time.monotonic())
        if bpm is None:
            self.statusBar().showMessage(f"Tap tempo: {len(self.tapper.taps)} tap(s), keep tapping on the beat…", 3000)
            return
        self.set_export_tempo(bpm)
        self.statusBar().showMessage(f"Tempo {bpm:g} BPM (tapped)", 5000)

    # ------------------------------------------------------------------ quantise and export
    def quantise_to_grid(self, division: int) -> None:
        """Edit → Quantise: to 1/``division`` notes of the beat grid when it is shown, else at
        the MIDI tempo from 0 s (the editor's seconds grid)."""
        meter = self.current_meter() if self.act_beat_grid.isChecked() else None
        ed = self.editor
        if meter is None:
            ed.quantise(division, self.export_tempo())
            return
        if not ed.enabled or not len(self.notes):
            return
        idx = ed.selection if len(ed.selection) else np.arange(len(self.notes))
        after, sel = snap_to_grid(self.notes, idx, meter, GRID_STEPS[division])
        if after.equals(self.notes, atol=1e-9):
            return
        ed.push(f"Quantise {len(idx)} notes to 1/{division} of the beat grid", after,
                sel if len(ed.selection) else np.zeros(0, np.int64))

    def midi_export_payload(self) -> tuple[Notes, float, str | None, float]:
        """(notes, tempo BPM, time signature, seconds of bar 1) for a MIDI export. Played times:
        the notes shown at the MIDI tempo (File → MIDI tempo) with the grid's time signature,
        bar 1 of the file on the grid's first downbeat (a late start keeps its bar lines).
        "Quantised to the beat grid": the roll first shows the notes quantised as in the score
        (one undo step), then they are written on the grid at its steady tempo, bar 1 at tick 0."""
        from ..quantise import steady_notes

        meter = self.current_meter()
        if meter is None:
            return self.notes, self.export_tempo(), None, 0.0
        if not self.act_midi_quantised.isChecked():
            return self.notes, self.export_tempo(), meter.time_signature, float(meter.downbeat_s)
        q = self._quantise_roll(meter)
        return steady_notes(q), round(meter.quarter_bpm, 2), meter.time_signature, 0.0

    def _quantise_roll(self, meter):
        """Quantise the notes as the score does and show them on the roll (one undo step)."""
        from ..quantise import quantise

        q = quantise(self.notes, meter)
        shown = q.to_notes().sorted()
        if not shown.equals(self.notes.sorted(), atol=1e-9):
            self.editor.replace_all(shown, "Quantise to the score grid")
        return quantise(self.notes, meter)

    def export_score_dialog(self) -> None:
        if not len(self.notes):
            self.statusBar().showMessage("Nothing to export yet: no notes.", 5000)
            return
        folder = Path(str(self.settings.value("files/export_folder", self.settings.value("files/last_folder", Path.home()))))
        stem = Path(self.loaded.path).stem if self.loaded else "transcription"
        path, _ = QFileDialog.getSaveFileName(self, "Export score", str(folder / f"{stem}.musicxml"),
                                              "MusicXML (*.musicxml *.xml)")
        if path:
            self.export_score(path)

    def export_score(self, path) -> Path | None:
        """Write the notes as a MusicXML score on the current grid; the roll then shows the
        quantised notes the score holds."""
        from ..midi_io import atomic_write_bytes
        from ..score import musicxml_bytes
        from ..meter import Meter

        path = Path(path)
        if path.suffix.lower() not in (".musicxml", ".xml"):
            path = path.with_suffix(".musicxml")
        if not len(self.notes):
            self.statusBar().showMessage("Nothing to export yet: no notes.", 5000)
            return None
        meter = self.current_meter() or Meter.regular(self.export_tempo(), "4/4",
                                                      float(self.notes.onset.min()),
                                                      float(self.notes.offset.max()) + 2.0)
        try:
            q = self._quantise_roll(meter)
            out = atomic_write_bytes(path, musicxml_bytes(q, path.stem))
        except (ParStudioError, OSError, ValueError) as exc:
            self.show_error(str(exc) if isinstance(exc, ParStudioError) else
                            f"Could not write {path}: {getattr(exc, 'strerror', None) or exc}", "Export failed")
            return None
        self.settings.setValue("files/export_folder", str(path.parent))
        self.statusBar().showMessage(f"Exported a score of {len(q)} notes to {out} ({meter.time_signature}, "
                                     f"♩ = {meter.quarter_bpm:.0f})", 8000)
        return out


__all__ = ["ScoreMixin", "snap_to_grid", "BarTimeAxis", "BeatGridItem", "METERS"]
