"""The main window's toolbar: transport, listening mix, model settings, live input, export.

Its widgets (``model_combo``, ``latency_combo``, ``sensitivity_slider``, ``input_combo``) are
attributes of the window; their settings live in :mod:`.settings`. To add a control, add it in
the group it belongs to in :meth:`ToolbarMixin._build_toolbar`. A mixin of
:class:`~.main_window.MainWindow`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QLabel, QSlider, QToolBar

MODELS = (("PAR", "par"), ("PARcompact", "par-compact"))
SENSITIVITY_STEPS = 20  #: slider positions either side of 0; sensitivity = position / 20


class ToolbarMixin:
    """Build the toolbar and fill the live input picker."""

    def _build_toolbar(self) -> None:
        tb = self.toolbar = QToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.addToolBar(tb)
        for a in (self.act_open, self.act_transcribe, self.act_play):
            tb.addAction(a)
        tb.addAction(self.act_loop)
        tb.addWidget(self.speed.button)
        tb.addWidget(self.mixer.left_label)
        tb.addWidget(self.mixer.slider)
        tb.addWidget(self.mixer.right_label)
        tb.addAction(self.act_follow)
        tb.addSeparator()
        tb.addWidget(QLabel(" Model "))
        self.model_combo = QComboBox()
        for label, preset in MODELS:
            self.model_combo.addItem(label, preset)
        self.model_combo.setToolTip("PAR: the full model. PARcompact: smaller and faster, for live use.")
        tb.addWidget(self.model_combo)
        tb.addWidget(QLabel(" Look-ahead "))
        self.latency_combo = QComboBox()
        self.latency_combo.setToolTip("How far the model listens ahead before it decides (algorithmic "
                                      "latency). Only settings with installed weights are offered.")
        tb.addWidget(self.latency_combo)
        tb.addWidget(QLabel(" Sensitivity "))
        self.sensitivity_slider = QSlider(Qt.Horizontal)
        self.sensitivity_slider.setRange(-SENSITIVITY_STEPS, SENSITIVITY_STEPS)
        self.sensitivity_slider.setPageStep(4)
        self.sensitivity_slider.setFixedWidth(110)
        self.sensitivity_slider.setToolTip(
            "Note sensitivity. Left: fewer notes (fewer false notes, more missed ones); right: "
            "more notes. The middle is the model's calibration. The file is transcribed again "
            "when you let go; a live session uses the setting it started with.")
        tb.addWidget(self.sensitivity_slider)
        self.sensitivity_label = QLabel("")
        self.sensitivity_label.setMinimumWidth(40)
        tb.addWidget(self.sensitivity_label)
        self._sensitivity_timer = QTimer(self)
        self._sensitivity_timer.setSingleShot(True)
        self._sensitivity_timer.setInterval(400)  # debounce: re-transcribe once the slider rests
        self._sensitivity_timer.timeout.connect(self._apply_sensitivity)
        tb.addSeparator()
        tb.addAction(self.act_live)
        self.input_combo = QComboBox()
        self.input_combo.setToolTip("Live input: a microphone, or the open file played as live input")
        tb.addWidget(self.input_combo)
        tb.addSeparator()
        tb.addAction(self.act_export)
        for w in (self.model_combo, self.latency_combo, self.input_combo, self.sensitivity_slider):
            w.setFocusPolicy(Qt.ClickFocus)
        self.sensitivity_slider.valueChanged.connect(self._sensitivity_changed)
        self.model_combo.currentIndexChanged.connect(self._model_changed)
        self.latency_combo.currentIndexChanged.connect(self._latency_changed)
        self._fill_inputs()

    def _fill_inputs(self) -> None:
        from .sources import input_devices

        self.input_combo.clear()
        self.input_combo.addItem("Open file as live input", ("file", None))
        for dev, name in input_devices():
            self.input_combo.addItem(f"Mic: {name}", ("mic", dev))
