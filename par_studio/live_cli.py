"""`par-studio live`: stream a microphone or a file through the streaming engine.

Prints one line per note as soon as it ends (onset, offset, pitch name, velocity), optionally
sends note on/off to a MIDI output port, and writes everything found to a MIDI file at the end
of input or on Ctrl+C. The notes are printed and sent with the decoder's velocities as they are
found; the file gets the velocities refined from the whole take, as ``par-studio transcribe``
refines them (:mod:`par_studio.engine.take`): for that, with ``-o``, the take's audio (float32,
64 KB/s) and frames (states and velocities, 14 KB/s) are kept, 280 MB per hour, for takes up to
:data:`~par_studio.engine.take.MAX_TAKE_SECONDS` (a longer one keeps the decoder's velocities).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from .constants import FRAME_SECONDS
from .errors import AudioDeviceError, MidiError
from .names import shown

_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def pitch_name(p: int) -> str:
    return f"{_NAMES[int(p) % 12]}{int(p) // 12 - 1}"


def open_midi_output(name: str, virtual: bool = False):
    """A mido output port (python-rtmidi backend): exact name, else a unique substring match;
    ``virtual`` creates a virtual port called ``name`` where the backend supports it."""
    try:
        import mido
    except ImportError as exc:
        raise MidiError("MIDI output needs the 'mido' and 'python-rtmidi' packages.") from exc
    try:
        if virtual:
            return mido.open_output(name, virtual=True)
        names = mido.get_output_names()
    except Exception as exc:  # backend missing, virtual ports unsupported (Windows), ...
        raise MidiError(f"Cannot open MIDI output {name!r}: {exc}") from exc
    match = [n for n in names if n == name] or [n for n in names if name.lower() in n.lower()]
    if len(match) != 1:
        listing = ", ".join(repr(n) for n in names) or "none"
        why = "is ambiguous" if match else "was not found"
        raise MidiError(f"MIDI output port {name!r} {why}. Available ports: {listing}. "
                        "Use --midi-virtual to create a virtual port instead.")
    try:
        return mido.open_output(match[0])
    except Exception as exc:
        raise MidiError(f"Cannot open MIDI output {match[0]!r}: {exc}") from exc


class _MidiSender:
    """Sends note on when a note first appears (sounding or finished), note off when it ends."""

    def __init__(self, port):
        import mido

        self.port, self.mido = port, mido
        self.on: set[tuple[int, int]] = set()  # (pitch, onset frame)

    def _key(self, notes, i):
        return int(notes.pitch[i]), int(round(notes.onset[i] / FRAME_SECONDS))

    def update(self, finished, sounding) -> None:
        for notes, ends in ((finished, True), (sounding, False)):
            for i in range(len(notes)):
                k = self._key(notes, i)
                if k not in self.on:
                    self.port.send(self.mido.Message("note_on", note=k[0], velocity=int(notes.velocity[i])))
                    self.on.add(k)
                if ends:
                    self.port.send(self.mido.Message("note_off", note=k[0], velocity=0))
                    self.on.discard(k)

    def close(self) -> None:
        for pitch, _ in list(self.on):
            self.port.send(self.mido.Message("note_off", note=pitch, velocity=0))
        self.on.clear()
        self.port.close()


def _print_notes(notes, out=None) -> None:
    out = out or sys.stdout
    for i in range(len(notes)):
        out.write(f"{notes.onset[i]:9.3f} {notes.offset[i]:9.3f}  {pitch_name(notes.pitch[i]):<4} "
                  f"{int(notes.pitch[i]):3d}  vel {int(notes.velocity[i]):3d}\n")
    if len(notes):
        out.flush()


def check_live_output(out: str) -> None:
    """Refuse an ``-o`` that is ambiguous (a folder, an empty name, another kind of file) or
    cannot be written, with :class:`~par_studio.outputs.OutputError`."""
    from .outputs import MIDI_SUFFIXES, OutputError, check_writable

    if not out.strip():
        raise OutputError("-o is empty (an unset variable in a script?); give a .mid file name.")
    if out.endswith(("/", os.sep)) or Path(out).is_dir():
        raise OutputError(f"-o {shown(out)} is a folder; give a file name ending in .mid.")
    if Path(out).suffix.lower() not in MIDI_SUFFIXES + (".csv",):
        raise OutputError(f"-o {shown(out)}: the notes are written as .mid (MIDI) or .csv; "
                          "give a name ending in one of them.")
    check_writable(Path(out))


def cmd_live(args) -> int:
    from .audio.live import FileSource, MicrophoneSource, list_input_devices
    from .cli import load_model_from_args

    if args.list_devices:
        devs = list_input_devices()
        if not devs:
            print("no audio input devices found", file=sys.stderr)
            return 1
        for d in devs:
            mark = "*" if d["default"] else " "
            print(f"{mark}{d['index']:3d}  {d['name']}  ({d['channels']} ch, "
                  f"{d['default_samplerate']:.0f} Hz, {d['hostapi']})")
        return 0

    import torch

    from .engine.streaming import StreamingEngine
    from .midi_io import write_notes

    if args.output is not None:
        check_live_output(args.output)  # before the session, not after it
    model, meta = load_model_from_args(args)
    if not getattr(args, "threads", None):
        torch.set_num_threads(1)  # one thread is the fastest for per-hop work (benchmarks)
    if args.file:
        source = FileSource(args.file, realtime=not args.no_realtime)
    else:
        device = args.device
        if device is not None and str(device).isdigit():
            device = int(device)
        source = MicrophoneSource(device)
    midi = None
    if args.midi_out:
        midi = _MidiSender(open_midi_output(args.midi_out, virtual=args.midi_virtual))
    from .engine.take import TakeAudio, refiner_available

    # the file's velocities are refined from the whole take at the end: keep its frames and audio
    take = TakeAudio() if args.output and refiner_available() else None
    engine = StreamingEngine(model, keep_history=take is not None, keep_probabilities=False,
                             sensitivity=args.sensitivity)
    tuning = getattr(args, "tuning", None)
    if tuning is not None and tuning.corrects:  # heard at A440, notes on the input's clock
        from .engine.tuned_stream import TunedStream

        engine = TunedStream(engine, tuning)
        print(f"live: piano tuning {tuning.describe()}", file=sys.stderr)
    recorder = None
    if args.record:
        from .audio.recorder import RecordingWriter

        try:
            recorder = RecordingWriter(args.record)
        except Exception as exc:
            print(f"error: cannot record to {args.record}: {exc}", file=sys.stderr)
            return 1
    print(f"live: {model.cfg.preset} model, {engine.latency_ms} ms look-ahead, input {source.name}"
          f"{' (as fast as possible)' if args.file and args.no_realtime else ''}; Ctrl+C to stop",
          file=sys.stderr)
    interrupted = False
    t_start = time.perf_counter()
    try:
        source.start()
        while True:
            x = source.read()
            if len(x):
                if recorder is not None:
                    recorder.write(x)
                if take is not None:
                    take.append(x)
                upd = engine.push(x)
                _print_notes(upd.finished)
                if midi:
                    midi.update(upd.finished, upd.sounding)
            elif source.finished:
                break
            else:
                time.sleep(0.005)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        source.stop()
        if recorder is not None:
            recorder.close()
    upd = engine.finish()
    _print_notes(upd.finished)
    _print_notes(upd.sounding)  # still sounding at the end of input: they end there
    if midi:
        midi.update(upd.finished, upd.sounding)
        midi.close()
    notes = engine.notes()
    written, fell_back, refined = None, False, False
    if take is not None:
        try:
            notes, refined = _refined_notes(engine, take, notes)
        except KeyboardInterrupt:  # the file is still written, with the decoder's velocities
            interrupted = True
    if args.output:
        from .outputs import write_or_fallback
        from .tempo import resolve_tempo

        tempo = resolve_tempo(args.tempo, notes)
        written, msg = write_or_fallback(lambda n, p: write_notes(n, p, tempo=tempo), Path(args.output), notes)
        if msg:
            fell_back = True
            print(f"error: {msg}", file=sys.stderr)
    wall = time.perf_counter() - t_start
    audio_s = engine.samples_pushed / 16000
    print(f"live: {'interrupted; ' if interrupted else ''}{len(notes)} notes, {audio_s:.1f} s of audio "
          f"in {wall:.1f} s, {source.overflows} overflows ({source.dropped_samples} samples dropped)"
          f"{', written to ' + shown(written) if written else ''}"
          f"{' (velocities refined from the whole take)' if written and refined else ''}"
          f"{', audio recorded to ' + str(args.record) if recorder is not None else ''}", file=sys.stderr)
    return 130 if interrupted else 1 if fell_back else 0


def _refined_notes(engine, take, notes):
    """(notes, refined): the take's notes with their velocities refined from its audio (the
    result of ``engine``, a finished StreamingEngine or TunedStream that kept its history, and
    ``take``, its TakeAudio), else ``notes`` as found and False."""
    from .engine.take import MAX_TAKE_SECONDS, refine_take

    audio = take.array()
    if audio is None:
        print(f"live: the take is longer than {MAX_TAKE_SECONDS / 3600:.0f} h; its velocities are the "
              "decoder's", file=sys.stderr)
        return notes, False
    print("live: refining the velocities from the whole take…", file=sys.stderr)
    tr = refine_take(engine.result(), audio)
    return (tr.notes, True) if tr.velocity_refined else (notes, False)


def _live_tuning_arg(text: str):
    import argparse

    from .cli import tuning_arg

    value = tuning_arg(text)
    if value is None:
        raise argparse.ArgumentTypeError("live input cannot be measured ahead: give the piano's "
                                         "tuning in cents (+35) or Hz (442), or off; `par-studio "
                                         "transcribe` of a recording of it prints the measured value")
    return value


def add_live_parser(sub) -> None:
    from .cli import add_model_args, add_sensitivity_arg, tempo_arg, threads_arg

    p = sub.add_parser("live", help="transcribe a microphone or a file as it plays",
                       description="Stream audio through the streaming engine and print notes as "
                                   "they are found.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--file", metavar="AUDIO", help="play this file as live input")
    src.add_argument("--device", metavar="ID", help="input device index or name (default: system default)")
    add_model_args(p)
    p.add_argument("--midi-out", metavar="PORT", help="send note on/off to this MIDI output port")
    p.add_argument("--midi-virtual", action="store_true",
                   help="create --midi-out PORT as a virtual port (Linux/macOS)")
    p.add_argument("-o", "--output", metavar="OUT.mid",
                   help="write all notes found to a MIDI (.mid) or CSV (.csv) file, with the velocities "
                        "refined from the whole take at the end; checked before the session starts, "
                        "saved to the user data folder if it fails at the end")
    p.add_argument("--tempo", type=tempo_arg, default="auto", metavar="BPM|auto",
                   help="tempo of the -o MIDI file (default: detected from the notes)")
    p.add_argument("--record", metavar="TAKE.wav",
                   help="also record the input to this 16-bit WAV as it arrives (a crash keeps all "
                        "but the last second)")
    add_sensitivity_arg(p)
    p.add_argument("--tuning", type=_live_tuning_arg, default=None, metavar="CENTS|HZ|off",
                   help="the piano's tuning, as cents from A440 (+35, -20) or A4 in Hz (442): the "
                        "input is brought to A440 before the model hears it (live input cannot be "
                        "measured ahead; transcribe a recording of the piano to measure it). "
                        "Default: off, the input as it is")
    p.add_argument("--no-realtime", action="store_true", help="--file: push as fast as the engine goes")
    p.add_argument("--list-devices", action="store_true", help="list audio input devices and exit")
    p.add_argument("--threads", type=threads_arg, default=None, help="torch CPU threads (default 1)")
    p.set_defaults(func=cmd_live)


__all__ = ["add_live_parser", "cmd_live", "open_midi_output", "pitch_name", "AudioDeviceError"]
