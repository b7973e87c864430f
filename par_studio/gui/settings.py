"""Settings of the main window: model, look-ahead, sensitivity, recent files.

Everything here is kept in :class:`QSettings` (``self.settings``) and restored at start.
A mixin of :class:`~.main_window.MainWindow`: it uses the window's widgets and state.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from ..constants import DEFAULT_LATENCY_MS
from ..errors import ParStudioError
from .candidates import DEFAULT_STEPS as DEFAULT_CANDIDATE_STEPS
from .toolbar import SENSITIVITY_STEPS
from .workers import ModelSpec

ORGANIZATION = "PAR Studio"
APPLICATION = "PAR Studio"
MAX_RECENT = 8
DEFAULT_SIZE = (1280, 720)  #: the first window fits a 1366 × 768 laptop screen with its panel


def default_size(available=None) -> tuple[int, int]:
    """The window's size at first start: DEFAULT_SIZE, shrunk to the screen's free area."""
    w, h = DEFAULT_SIZE
    if available is not None and available.width() > 0 and available.height() > 0:
        w, h = min(w, available.width()), min(h, available.height())
    return w, h


class SettingsMixin:
    """Restore and keep the window's settings; the model the next job uses."""

    def _restore_settings(self) -> None:
        s = self.settings
        geo = s.value("window/geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(*default_size(self.screen().availableGeometry() if self.screen() else None))
        preset = s.value("model/preset", "par")
        idx = max(0, self.model_combo.findData(preset))
        self.model_combo.blockSignals(True)
        self.model_combo.setCurrentIndex(idx)
        self.model_combo.blockSignals(False)
        self._fill_latencies(int(s.value("model/latency_ms", DEFAULT_LATENCY_MS)))
        self.act_follow.setChecked(s.value("view/follow", True) in (True, "true", 1, "1"))
        self.act_audition.setChecked(s.value("edit/audition", True) in (True, "true", 1, "1"))
        self.act_pitch_spectrum.setChecked(s.value("view/pitch_spectrum", True) in (True, "true", 1, "1"))
        self.timeline.pitch_img.setVisible(self.act_pitch_spectrum.isChecked())
        self._update_recent_menu()
        self._update_model_label()
        self._show_tempo_setting()
        try:
            sens = float(s.value("model/sensitivity", 0.0))
        except (TypeError, ValueError):
            sens = 0.0
        self.sensitivity_slider.blockSignals(True)
        self.sensitivity_slider.setValue(round(max(-1.0, min(1.0, sens)) * SENSITIVITY_STEPS))
        self.sensitivity_slider.blockSignals(False)
        self.sensitivity_label.setText(f"{self.sensitivity():+.2f}" if self.sensitivity() else "0")
        try:
            cand = int(s.value("view/candidates", DEFAULT_CANDIDATE_STEPS))
        except (TypeError, ValueError):
            cand = DEFAULT_CANDIDATE_STEPS
        self.candidates_slider.setValue(max(0, min(self.candidates_slider.maximum(), cand)))
        self._candidates_changed(self.candidates_slider.value())
        self._build_threads_menu()

    # ------------------------------------------------------------------ CPU threads
    def cpu_threads(self) -> int:
        """The acoustic network's CPU threads for the next transcription; 0 = automatic (the
        cores idle at the time, see engine/threads.py). The decoder always uses one."""
        try:
            return max(0, int(self.settings.value("engine/threads", 0)))
        except (TypeError, ValueError):
            return 0

    def _build_threads_menu(self) -> None:
        """Transcribe → CPU threads: Automatic (default) or a fixed count up to the cores."""
        from PySide6.QtGui import QAction, QActionGroup

        from ..engine.threads import usable_cores

        menu = getattr(self, "threads_menu", None)
        if menu is None:
            menu = self.threads_menu = self.transcribe_menu.addMenu("CPU &threads")
            menu.setToolTipsVisible(True)
        menu.clear()
        group = QActionGroup(menu)
        current = self.cpu_threads()
        choices = [(0, "Automatic (keeps a busy computer responsive)")]
        choices += [(n, f"{n}") for n in range(1, usable_cores() + 1)]
        if current > usable_cores():
            choices.append((current, f"{current}"))
        for n, label in choices:
            act = QAction(label, menu, checkable=True)
            act.setData(n)
            act.setChecked(n == current)
            act.setToolTip("Threads for the acoustic network; the decoder always uses one. "
                           "Automatic uses the cores that are idle when a transcription starts.")
            act.triggered.connect(lambda _=False, n=n: self._set_cpu_threads(n))
            group.addAction(act)
            menu.addAction(act)

    def _set_cpu_threads(self, n: int) -> None:
        self.settings.setValue("engine/threads", int(n))
        for act in self.threads_menu.actions():
            act.setChecked(act.data() == n)
        from ..engine.threads import describe

        self.statusBar().showMessage(f"CPU threads: {describe(n or None)}", 5000)

    def recent_files(self) -> list[str]:
        v = self.settings.value("files/recent", [])
        if isinstance(v, str):
            v = [v]
        return [str(x) for x in (v or [])]

    def _add_recent(self, path: str) -> None:
        items = [p for p in self.recent_files() if p != path]
        items.insert(0, path)
        self.settings.setValue("files/recent", items[:MAX_RECENT])
        self.settings.setValue("files/last_folder", str(Path(path).parent))
        self._update_recent_menu()

    def _replace_recent(self, old: str, new: str) -> None:
        """``old`` (a live session's WAV, converted to FLAC at its end) is now ``new``."""
        items = [new if p == old else p for p in self.recent_files()]
        self.settings.setValue("files/recent", list(dict.fromkeys(items))[:MAX_RECENT])
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            a = self.recent_menu.addAction(Path(p).name)
            a.setToolTip(p)
            a.triggered.connect(lambda _=False, p=p: self.open_file(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    def current_spec(self) -> ModelSpec:
        lat = self.latency_combo.currentData()
        return ModelSpec(self.model_combo.currentData(), int(lat or DEFAULT_LATENCY_MS), self.models_dir)

    def _fill_latencies(self, prefer: int | None = None) -> None:
        from ..model.shipped import available_latencies  # no torch before the window shows

        preset = self.model_combo.currentData()
        have = available_latencies(preset, self.models_dir)
        self.latency_combo.blockSignals(True)
        self.latency_combo.clear()
        if have:
            for ms in have:
                self.latency_combo.addItem(f"{ms} ms", ms)
            pick = prefer if prefer in have else (DEFAULT_LATENCY_MS if DEFAULT_LATENCY_MS in have else have[-1])
            self.latency_combo.setCurrentIndex(have.index(pick))
            self.latency_combo.setToolTip("Algorithmic look-ahead of the model; shorter reacts sooner, "
                                          "longer is more accurate. Only installed settings are listed.")
        else:
            self.latency_combo.addItem(f"{DEFAULT_LATENCY_MS} ms", DEFAULT_LATENCY_MS)
            self.latency_combo.setToolTip("No trained weights are installed for this model, so there is "
                                          "no look-ahead to choose.")
        self.latency_combo.blockSignals(False)
        self._has_weights = bool(have)

    def _model_changed(self) -> None:
        self.settings.setValue("model/preset", self.model_combo.currentData())
        self._fill_latencies(int(self.settings.value("model/latency_ms", DEFAULT_LATENCY_MS)))
        self._settings_changed()

    def _latency_changed(self) -> None:
        if self.latency_combo.currentData() is not None:
            self.settings.setValue("model/latency_ms", int(self.latency_combo.currentData()))
        self._settings_changed()

    def sensitivity(self) -> float:
        """Note sensitivity from the slider, −1..1 (0: as the model is calibrated)."""
        return self.sensitivity_slider.value() / SENSITIVITY_STEPS

    def _sensitivity_changed(self, _value=None) -> None:
        s = self.sensitivity()
        self.sensitivity_label.setText(f"{s:+.2f}" if s else "0")
        self.settings.setValue("model/sensitivity", s)
        self._sensitivity_timer.start()

    def _apply_sensitivity(self) -> None:
        if self._shut_down or self.loaded is None or self.live is not None or not self._has_weights:
            return
        if self.job is not None and self.job_kind == "transcribe":
            self._cancel_and_wait()
        self.transcribe()

    def _settings_changed(self) -> None:
        self._update_model_label()
        self._update_enabled()
        if self.loaded is not None and self.live is None and self.job is None:
            self.transcribe()

    def _update_model_label(self) -> None:
        spec = self.current_spec()
        label = self.model_combo.currentText()
        self.model_label.setText(f"{label} · {spec.latency_ms} ms" + ("" if self._has_weights else " (no weights)"))

    def _missing_weights_message(self, spec: ModelSpec) -> str | None:
        from ..model.shipped import shipped_path

        if shipped_path(spec.preset, spec.latency_ms, self.models_dir).exists():
            return None
        from ..model.checkpoint import resolve_model

        try:
            resolve_model(spec.preset, spec.latency_ms, models_dir=self.models_dir)
        except ParStudioError as exc:
            return str(exc)
        return None


def make_settings(path: str | None = None) -> QSettings:
    """QSettings in the organisation/app scope, or in an INI file at ``path`` (tests, screenshots)."""
    if path:
        return QSettings(str(path), QSettings.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)
