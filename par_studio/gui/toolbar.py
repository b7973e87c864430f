"""The main window's toolbars: transport, listening mix, live input, export (first row);
model settings, sensitivity, piano tuning and candidate notes (second row).

Its widgets (``model_combo``, ``latency_combo``, ``sensitivity_slider``, ``tuning_combo``,
``input_combo``) are attributes of the window; their settings live in :mod:`.settings`. To add
a control, add it in the group it belongs to in :meth:`ToolbarMixin._build_toolbar`. A mixin of
:class:`~.main_window.MainWindow`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QLabel, QSlider, QToolBar

from .candidates import SLIDER_STEPS as CANDIDATE_STEPS

MODELS = (("PAR", "par"), ("PARcompact", "par-compact"))
SENSITIVITY_STEPS = 20  #: slider positions either side of 0; sensitivity = position / 20
#: the tuning picker's items: (text, data); the texts of "auto" and "set" change to show the
#: last measured / the set value (settings.py, ``_show_tuning``)
TUNING_CHOICES = (("Auto", "auto"), ("A440 (off)", "off"), ("Set…", "set"))


class ToolbarMixin:
    """Build the toolbar and fill the live input picker."""

    def _build_toolbar(self) -> None:
        """Two rows, so that every control shows at 1280 px (none behind the "»" overflow):
        1. transport and listening, live input, export; 2. model settings and candidates."""
        tb = self.toolbar = self._new_toolbar("main_toolbar", "Main")
        for a in (self.act_open, self.act_transcribe, self.act_play, self.act_loop):
            tb.addAction(a)
        tb.addWidget(self.speed.button)
        tb.addWidget(self.mixer.left_label)
        tb.addWidget(self.mixer.slider)
        tb.addWidget(self.mixer.right_label)
        tb.addAction(self.act_follow)
        tb.addSeparator()
        tb.addAction(self.act_live)
        self.input_combo = QComboBox()
        self.input_combo.setToolTip("Live input: a microphone, or the open file played as live input")
        self.input_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.input_combo.setMinimumContentsLength(22)  # long device names are elided, not widening the bar
        tb.addWidget(self.input_combo)
        tb.addSeparator()
        tb.addAction(self.act_export)
        # ---- second row: how the model transcribes, and what it may have missed
        self.addToolBarBreak()
        tb2 = self.settings_toolbar = self._new_toolbar("settings_toolbar", "Model")
        tb2.addWidget(QLabel(" Model "))
        self.model_combo = QComboBox()
        for label, preset in MODELS:
            self.model_combo.addItem(label, preset)
        self.model_combo.setToolTip("PAR: the full model. PARcompact: smaller and faster, for live use.")
        tb2.addWidget(self.model_combo)
        tb2.addWidget(QLabel(" Look-ahead "))
        self.latency_combo = QComboBox()
        self.latency_combo.setToolTip("How far the model listens ahead before it decides (algorithmic "
                                      "latency). Only settings with installed weights are offered.")
        tb2.addWidget(self.latency_combo)
        tb2.addWidget(QLabel(" Sensitivity "))
        self.sensitivity_slider = QSlider(Qt.Horizontal)
        self.sensitivity_slider.setRange(-SENSITIVITY_STEPS, SENSITIVITY_STEPS)
        self.sensitivity_slider.setPageStep(4)
        self.sensitivity_slider.setFixedWidth(110)
        self.sensitivity_slider.setToolTip(
            "Note sensitivity. Left: fewer notes (fewer false notes, more missed ones); right: "
            "more notes. The middle is the model's calibration. The file is transcribed again "
            "when you let go; a live session uses the setting it started with.")
        tb2.addWidget(self.sensitivity_slider)
        self.sensitivity_label = QLabel("")
        self.sensitivity_label.setMinimumWidth(40)
        tb2.addWidget(self.sensitivity_label)
        self._sensitivity_timer = QTimer(self)
        self._sensitivity_timer.setSingleShot(True)
        self._sensitivity_timer.setInterval(400)  # debounce: re-transcribe once the slider rests
        self._sensitivity_timer.timeout.connect(self._apply_sensitivity)
        tb2.addWidget(QLabel(" Tuning "))
        self.tuning_combo = QComboBox()
        for label, choice in TUNING_CHOICES:
            self.tuning_combo.addItem(label, choice)
        # as wide as "Auto (+35 c)" / "Set: +7.9 c…", so the row does not jump when they change
        self.tuning_combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.tuning_combo.setMinimumContentsLength(12)
        self._tuning = None  #: the tuning setting (par_studio.tuning.Tuning; None: measure it)
        self._measured_tuning = None  #: the tuning measured on the open file, once transcribed
        tb2.addWidget(self.tuning_combo)
        tb2.addSeparator()
        tb2.addWidget(QLabel(" Candidates "))
        self.candidates_slider = QSlider(Qt.Horizontal)
        self.candidates_slider.setRange(0, CANDIDATE_STEPS)
        self.candidates_slider.setPageStep(3)
        self.candidates_slider.setFixedWidth(110)
        self.candidates_slider.setToolTip(
            "Candidate notes: ghost notes the model would add at a higher sensitivity (from the "
            "transcription already made; nothing is run again). Right: more of them; left end: none. "
            "N / Shift+N: next / previous; click or Enter: accept; Delete: reject.")
        tb2.addWidget(self.candidates_slider)
        self.candidates_label = QLabel("")
        self.candidates_label.setMinimumWidth(60)
        tb2.addWidget(self.candidates_label)
        for w in (self.model_combo, self.latency_combo, self.input_combo, self.sensitivity_slider,
                  self.tuning_combo, self.candidates_slider):
            w.setFocusPolicy(Qt.ClickFocus)
        self.sensitivity_slider.valueChanged.connect(self._sensitivity_changed)
        self.candidates_slider.valueChanged.connect(self._candidates_changed)
        self.model_combo.currentIndexChanged.connect(self._model_changed)
        self.latency_combo.currentIndexChanged.connect(self._latency_changed)
        self.tuning_combo.activated.connect(self._tuning_activated)  # also when "Set…" is picked again
        self.sigLiveStarted.connect(self._forget_measured_tuning)  # live input is not measured
        self._fill_inputs()

    def _new_toolbar(self, name: str, title: str) -> QToolBar:
        tb = QToolBar(title)
        tb.setObjectName(name)
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.addToolBar(tb)
        return tb

    def toolbar_controls(self) -> list:
        """Every action and widget on the toolbars (for the 1280 px visibility check)."""
        return [a for tb in (self.toolbar, self.settings_toolbar) for a in tb.actions() if not a.isSeparator()]

    def _candidates_changed(self, value: int) -> None:
        self.settings.setValue("view/candidates", int(value))
        self.candidates.set_max_margin(value / 10)

    def _show_candidate_count(self, n: int) -> None:
        if self.live is not None or self.transcription is None:
            self.candidates_label.setText("—")  # nothing transcribed (a live session keeps no probabilities)
        else:
            self.candidates_label.setText("off" if self.candidates_slider.value() == 0 else f"{n} shown")

    def _fill_inputs(self) -> None:
        from .sources import input_devices

        self.input_combo.clear()
        self.input_combo.addItem("Open file as live input", ("file", None))
        for dev, name in input_devices():
            self.input_combo.addItem(f"Mic: {name}", ("mic", dev))
