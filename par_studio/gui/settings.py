"""Settings of the main window: model, look-ahead, sensitivity, piano tuning, hall reverb,
recent files.

Everything here is kept in :class:`QSettings` (``self.settings``) and restored at start.
A mixin of :class:`~.main_window.MainWindow`: it uses the window's widgets and state.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QInputDialog

from ..constants import DEFAULT_LATENCY_MS
from ..errors import ParStudioError
from ..tuning import Tuning, parse_tuning
from .candidates import DEFAULT_STEPS as DEFAULT_CANDIDATE_STEPS
from .toolbar import SENSITIVITY_STEPS
from .workers import ModelSpec

ORGANIZATION = "PAR Studio"
APPLICATION = "PAR Studio"
MAX_RECENT = 8
DEFAULT_SIZE = (1280, 720)  #: the first window fits a 1366 × 768 laptop screen with its panel
TUNING_KEY = "model/tuning"  #: "auto", "off" or signed cents ("+35.0"), see tuning_text
TUNING_TIP = ("Piano tuning. A piano away from A440 (uprights are often 20–50 cents flat) is "
              "brought back to A440 before it is transcribed, so its notes are not heard between "
              "two keys. Auto measures each file; Set… takes cents (+35) or A4 in Hz (442). Live "
              "input uses a set tuning (it cannot be measured ahead); with Auto or off it is "
              "transcribed as it is.")
DEREVERB_KEY = "model/dereverb"  #: bool: take the late reverb out before transcribing (off by default)
DEREVERB_TIP = ("For recordings in a reverberant hall or church: takes out the late reverb before "
                "transcribing, so note ends come out where the keys were released. Slower (about 5 s "
                "more per minute of audio); not needed for dry rooms.")


def tuning_text(tuning: Tuning | None) -> str:
    """A tuning setting as kept in QSettings: "auto" (None), "off", or signed cents "+35.0"."""
    if tuning is None:
        return "auto"
    return "off" if tuning.source == "off" else f"{tuning.cents:+.1f}"


def short_cents(cents: float) -> str:
    """Cents for a narrow combo item: "+35", "-20", "+7.9"."""
    return f"{cents:+.0f}" if abs(cents - round(cents)) < 0.05 else f"{cents:+.1f}"


def tuning_words(tuning: Tuning | None) -> str:
    """A tuning setting for a sentence: "Auto", "off (A440)", "+20 cents (A4 = 445.1 Hz)"."""
    if tuning is None:
        return "Auto"
    if tuning.source == "off":
        return "off (A440)"
    return f"{short_cents(tuning.cents)} cents (A4 = {tuning.a4_hz:.1f} Hz)"


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
        try:
            self._tuning = parse_tuning(str(s.value(TUNING_KEY, "auto")))
        except ValueError:
            self._tuning = None  # a corrupt value: measure
        self._show_tuning()
        # anything but a true bool ("true" in an INI file) is off: a corrupt value too
        self.act_dereverb.setChecked(s.value(DEREVERB_KEY, False) in (True, "true", 1, "1"))
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
        self._transcribe_again()

    def _transcribe_again(self) -> None:
        """Transcribe the open file with the current settings, stopping a transcription that runs."""
        if self._shut_down or self.loaded is None or self.live is not None or not self._has_weights:
            return
        if self.job is not None and self.job_kind == "transcribe":
            self._cancel_and_wait()
        self.transcribe()

    # ------------------------------------------------------------------ piano tuning
    def tuning_setting(self) -> Tuning | None:
        """The piano tuning the next transcription uses; None: measure it from the audio."""
        return self._tuning

    def _tuning_activated(self, index: int) -> None:
        """An item of the tuning picker was chosen: Auto, A440 (off), or Set… (asks for a value;
        a value that is not a tuning is said and the setting stays as it was)."""
        choice = self.tuning_combo.itemData(index)
        if choice != "set":
            self._set_tuning(parse_tuning(choice))
            return
        current = self._tuning
        text, ok = QInputDialog.getText(
            self, "Piano tuning", "Tuning of the piano: cents from A440 (e.g. +35 or -20), "
            "or A4 in Hz (e.g. 442).", text=short_cents(current.cents) if current is not None
            and current.source == "set" else "")
        if not ok or not text.strip():
            self._show_tuning()  # back to the item of the setting
            return
        try:
            tuning = parse_tuning(text)
            if tuning is not None and tuning.source == "set":
                tuning = Tuning(round(tuning.cents, 1), "set")  # as kept (442 Hz: +7.9 cents)
        except ValueError as exc:
            self._show_tuning()
            self.show_error(f"{exc}. The tuning stays {tuning_words(self._tuning)}.", "Piano tuning")
            return
        self._set_tuning(tuning)

    def _set_tuning(self, tuning: Tuning | None) -> None:
        changed = tuning != self._tuning
        self._tuning = tuning
        self.settings.setValue(TUNING_KEY, tuning_text(tuning))
        self._show_tuning()
        if changed:
            self._transcribe_again()
            self._pitch_spectrogram_follows_tuning()  # its rows on the keys of the new tuning

    # ------------------------------------------------------------------ hall reverb
    def dereverb_setting(self) -> bool:
        """Whether the next transcription takes the late reverb out first (Transcribe menu)."""
        return self.act_dereverb.isChecked()

    def _dereverb_toggled(self, on: bool) -> None:
        """Transcribe → Reduce hall reverb was toggled: kept, and the open file transcribed again."""
        self.settings.setValue(DEREVERB_KEY, bool(on))
        self._transcribe_again()

    def _show_measured_tuning(self, tuning: Tuning | None) -> None:
        """The tuning measured on the open file (None: not measured) is shown in the picker."""
        self._measured_tuning = tuning
        self._show_tuning()

    def _forget_measured_tuning(self) -> None:
        self._show_measured_tuning(None)

    def _show_tuning(self) -> None:
        """The picker shows the setting, the last measured tuning and a set value."""
        t, m, combo = self._tuning, self._measured_tuning, self.tuning_combo
        combo.setItemText(0, "Auto" if m is None else f"Auto ({short_cents(m.cents)} c)")
        combo.setItemText(2, f"Set: {short_cents(t.cents)} c…" if t is not None and t.source == "set" else "Set…")
        combo.setCurrentIndex(0 if t is None else 1 if t.source == "off" else 2)
        now = ("Now: Auto, measured on each file." if t is None else
               "Now: off, the audio is transcribed as it is." if t.source == "off" else
               f"Now: set to A4 = {t.a4_hz:.1f} Hz ({t.cents:+.1f} cents)"
               + ("." if t.corrects else ", close enough to A440: not corrected."))
        last = "" if m is None else f"<br>Measured on this file: {escape(m.describe())}."
        # rich text, so Qt wraps it instead of showing one line as wide as the screen
        combo.setToolTip(f"<p>{escape(TUNING_TIP)}</p><p>{escape(now)}{last}</p>")

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
