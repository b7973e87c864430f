"""Playback of the main window: play/pause, seek, loop, follow, hearing notes while editing.

A mixin of :class:`~.main_window.MainWindow`; the audio itself is played by :mod:`.playback`
(mixed by :mod:`.mixer`, slowed by :mod:`.speed`).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QStyle

from ..errors import ParStudioError
from .synth import audition_clip

LOOP_MARGIN_S = 0.1  #: Loop plays this much before the first and after the last selected note


class TransportMixin:
    """Play, seek, loop and audition."""

    def toggle_play(self) -> None:
        if self.live is not None or self.loaded is None:
            return
        if self.player.playing:
            pos = self.player.stop()
            self.play_timer.stop()
            self.timeline.set_playhead(pos)
            self.act_play.setText("Play")
            self.act_play.setIcon(self.style().standardIcon(QStyle.SP_MediaPlay))
            return
        start = self.timeline.playhead()
        if start >= self.loaded.duration - 0.05:
            start = 0.0
        self.mixer.play_from(start)

    def _start_player(self, start: float, notes_audio=None, gains=(1.0, 0.0)) -> bool:
        """Play the source (mixed with ``notes_audio`` at ``gains``) from ``start`` s."""
        if self.loaded is None or self.live is not None:
            return False
        try:
            audio = self.speed.source()
            if audio is None:  # not slowed down yet: the mixer asks the speed controller first
                return False
            self.player.play(audio, start, notes_audio, gains, loop=self.loop_span(),
                             speed=self.speed.speed)
        except ParStudioError as exc:
            self.statusBar().showMessage(str(exc), 10000)
            self.last_error = str(exc)
            return False
        self._follow_paused = False
        self.act_play.setText("Pause")
        self.act_play.setIcon(self.style().standardIcon(QStyle.SP_MediaPause))
        self.play_timer.start()
        return True

    def _pitch_spectrum_toggled(self, on: bool) -> None:
        self.settings.setValue("view/pitch_spectrum", bool(on))
        self.timeline.pitch_img.setVisible(bool(on))

    def audition_notes(self, pitches, velocities) -> None:
        """Let the user hear these notes (a clicked note or key, a note added or moved to
        another pitch), unless Hear notes while editing is off or a live session runs."""
        if self._shut_down or self.live is not None or not self.act_audition.isChecked() or not len(pitches):
            return
        self.player.audition(audition_clip(pitches, velocities))

    def loop_span(self) -> tuple[float, float] | None:
        """The span Loop plays, in seconds: the selected notes with 100 ms either side, or the
        time range in view when nothing is selected; None while Loop is off."""
        if not self.act_loop.isChecked() or self.loaded is None:
            return None
        sel = self.editor.selection
        if len(sel):
            n = self.notes.take(sel)
            lo, hi = float(n.onset.min()) - LOOP_MARGIN_S, float(n.offset.max()) + LOOP_MARGIN_S
        else:
            (lo, hi), _ = self.timeline.roll_vb.viewRange()
        lo, hi = max(0.0, lo), min(self.loaded.duration, hi)
        return (lo, hi) if hi - lo >= 0.1 else None

    def _loop_toggled(self, on: bool = False) -> None:
        span = self.loop_span()
        self.timeline.set_loop(span)
        if self.player.playing:  # pick up the new span (or leave the loop) where we are
            self.mixer.play_from(self.player.position() if span is None else span[0])

    def _tick_playback(self) -> None:
        t = self.player.position()
        self.timeline.set_playhead(t)
        self._light_keys(t)
        if self.act_follow.isChecked() and not self._follow_paused:
            self.timeline.follow(t)
        if not self.player.playing:
            self.play_timer.stop()
            self.player.stop()
            self.act_play.setText("Play")
            self.act_play.setIcon(self.style().standardIcon(QStyle.SP_MediaPlay))

    def _light_keys(self, t: float) -> None:
        n = self.notes
        on = (n.onset <= t) & (n.offset > t)
        self.timeline.keyboard.set_active(n.pitch[on])

    def seek(self, t: float) -> None:
        if self.live is not None:
            return
        end = self.loaded.duration if self.loaded else 0.0
        t = float(np.clip(t, 0.0, end))
        self.timeline.set_playhead(t)
        self._light_keys(t)
        if self.player.playing:
            self.mixer.play_from(t)

    def _user_navigated(self) -> None:
        if self.player.playing or self.live is not None:
            self._follow_paused = True  # resumes on the next play / live start
