"""Checks made on an audio file before any decoding: is it a readable regular file, and does
its header describe audio that could exist? Each problem is an :class:`AudioLoadError` that
names the file and says what to do; nothing here decodes audio.

Limits (a header outside them is refused before any resampling, so a 40 KB file claiming a
1 Hz rate never becomes hours of 16 kHz audio):

* sample rate: 1,000 .. 768,000 Hz;
* channels: 1 .. 64;
* WAV: PCM of 8, 16, 24 or 32 bits, IEEE float of 32 or 64 bits, A-law/µ-law of 8 bits,
  block align equal to channels × bytes per sample;
* length: at most :data:`MAX_SECONDS` of audio (longer recordings: split them first).
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

from ..errors import AudioLoadError
from ..names import shown

MIN_RATE = 1_000
MAX_RATE = 768_000
MAX_CHANNELS = 64
MAX_SECONDS = 4 * 3600.0  #: 4 hours; 16 kHz mono float32 of that is 0.9 GB
#: WAV format tag → allowed bits per sample
_WAV_BITS = {1: (8, 16, 24, 32), 3: (32, 64), 6: (8,), 7: (8,)}
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE


def check_source(path: Path) -> os.stat_result:
    """Refuse what is not a readable regular file with a message that says what it is."""
    name = shown(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise AudioLoadError(f"{name}: is a broken link (its target {shown(os.readlink(path))} "
                                 "does not exist).") from None
        raise AudioLoadError(f"{name}: file not found.") from None
    except PermissionError:
        raise AudioLoadError(f"{name}: permission denied (the folder cannot be read). "
                             "Check its permissions.") from None
    except OSError as exc:  # ELOOP, ENAMETOOLONG, ...
        what = "is a link that points to itself (a loop)" if exc.errno == 40 else (exc.strerror or str(exc))
        raise AudioLoadError(f"{name}: {what}.") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioLoadError(f"{name}: is a folder, not an audio file.")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a named pipe" if stat.S_ISFIFO(st.st_mode) else "a device" if
                stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "a socket"
                if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise AudioLoadError(f"{name}: is {kind}, not an audio file. Save the audio to a file first.")
    if not os.access(path, os.R_OK):
        raise AudioLoadError(f"{name}: permission denied (the file cannot be read). "
                             "Check its permissions.")
    if st.st_size == 0:
        try:
            with open(path, "rb") as fh:
                has_data = bool(fh.read(1))
        except OSError:
            has_data = False
        if has_data:  # /proc and /sys files report size 0
            raise AudioLoadError(f"{name}: is a system file, not an audio file.")
        raise AudioLoadError(f"{name}: file is empty (0 bytes).")
    return st


def check_stream(name: str, sample_rate: int, channels: int, frames: int | None) -> None:
    """Refuse a rate, channel count or length no real recording has."""
    if not MIN_RATE <= sample_rate <= MAX_RATE:
        raise AudioLoadError(f"{name}: the header claims a sample rate of {sample_rate:,} Hz; real "
                             f"audio is {MIN_RATE:,}..{MAX_RATE:,} Hz. The file is damaged or not audio.")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioLoadError(f"{name}: the header claims {channels:,} channels (at most "
                             f"{MAX_CHANNELS} are read). The file is damaged or not audio.")
    if frames is not None and frames > 0 and frames / sample_rate > MAX_SECONDS:
        raise AudioLoadError(f"{name}: {frames / sample_rate / 3600:.1f} hours of audio; at most "
                             f"{MAX_SECONDS / 3600:.0f} hours are transcribed at once. Split the "
                             "recording into shorter files.")


def wav_problem(path: Path) -> str | None:
    """A message if ``path`` is a RIFF/WAVE file with an impossible ``fmt `` chunk or a data
    chunk shorter than its header says (libsndfile would read what is there), else None."""
    name = shown(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            pos, fmt = 12, None
            while pos + 8 <= size:
                fh.seek(pos)
                cid, n = struct.unpack("<4sI", fh.read(8))
                if cid == b"fmt " and n >= 16:
                    fmt = struct.unpack("<HHIIHH", fh.read(16))
                    ext = fh.read(10) if n >= 26 else b""
                    if fmt[0] == _WAVE_FORMAT_EXTENSIBLE and len(ext) == 10:
                        fmt = (struct.unpack("<H", ext[8:10])[0],) + fmt[1:]
                    problem = _fmt_problem(name, *fmt)
                    if problem:
                        return problem
                elif cid == b"data":
                    have = size - pos - 8
                    if n not in (0, 0xFFFFFFFF) and n > have:
                        return (f"{name}: the file is truncated (its header promises {n:,} bytes of "
                                f"audio, only {have:,} are there).")
                    if fmt is not None and n not in (0, 0xFFFFFFFF) and fmt[4] and fmt[2]:
                        seconds = min(n, have) / fmt[4] / fmt[2]
                        if seconds > MAX_SECONDS:
                            return (f"{name}: {seconds / 3600:.1f} hours of audio; at most "
                                    f"{MAX_SECONDS / 3600:.0f} hours are transcribed at once.")
                    return None
                pos += 8 + n + (n & 1)
    except (OSError, struct.error):
        return None
    return None


def _fmt_problem(name, tag, channels, rate, byte_rate, block_align, bits) -> str | None:
    try:
        check_stream(name, rate, channels, None)
    except AudioLoadError as exc:
        return str(exc)
    allowed = _WAV_BITS.get(tag)
    if allowed is not None and bits not in allowed:
        return (f"{name}: the header claims {bits}-bit samples, which this WAV encoding does not "
                f"have ({', '.join(map(str, allowed))} bits). The file is damaged.")
    if allowed is not None and block_align != channels * bits // 8:
        return (f"{name}: the header's block size ({block_align} bytes) does not fit {channels} "
                f"channel(s) of {bits}-bit samples. The file is damaged.")
    return None


def ogg_truncated(path: Path) -> bool:
    """True if an Ogg file (Vorbis, Opus, FLAC in Ogg) does not end with a complete page that
    ends its stream (the end-of-stream flag), i.e. it was cut short."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            if fh.read(4) != b"OggS":
                return False
            tail_start = max(0, size - 65536 - 27 - 255)
            fh.seek(tail_start)
            tail = fh.read()
    except OSError:
        return False
    i = tail.rfind(b"OggS")
    while i >= 0:
        page = tail[i:]
        if len(page) >= 27 and page[4] == 0:
            nseg = page[26]
            if len(page) >= 27 + nseg:
                body = sum(page[27:27 + nseg])
                complete = len(page) == 27 + nseg + body
                return not (complete and page[5] & 0x04)
        i = tail.rfind(b"OggS", 0, i)
    return True
