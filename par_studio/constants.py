"""The one source of truth for the audio/frame grid, the key range and the note states.

Everything else imports these names; no module repeats a literal 16000, 512 or 88.
"""

from __future__ import annotations

# --- audio / frame grid -------------------------------------------------------------
SAMPLE_RATE = 16_000  #: Hz; every engine input is resampled to this, mono float32
HOP_LENGTH = 512  #: samples between frames
FRAME_SECONDS = HOP_LENGTH / SAMPLE_RATE  #: 0.032 s per frame
FRAMES_PER_SECOND = SAMPLE_RATE / HOP_LENGTH  #: 31.25 frames per second
N_FFT = 4096  #: STFT window length in samples (Hann, centred)
WINDOW_HALF = N_FFT // 2  #: 2048 samples = 128 ms of look-ahead from the window alone
MEL_FMIN = 27.5  #: Hz, A0
MEL_FMAX = 8_000.0  #: Hz, Nyquist of 16 kHz

# --- keys ---------------------------------------------------------------------------
MIN_MIDI = 21  #: A0, MIDI pitch of key index 0
MAX_MIDI = 108  #: C8, MIDI pitch of key index 87
N_KEYS = MAX_MIDI - MIN_MIDI + 1  #: 88

# --- note states (labels and model outputs) -----------------------------------------
STATE_OFF = 0
STATE_OFFSET = 1  #: the single frame right after a note ends
STATE_ONSET = 2  #: the first frame of a note
STATE_SUSTAIN = 3
STATE_REONSET = 4  #: struck again while the previous note of the key still sounds
N_STATES = 5
STATE_NAMES = ("off", "offset", "onset", "sustain", "re-onset")
SOUNDING_STATES = (STATE_ONSET, STATE_SUSTAIN, STATE_REONSET)
ONSET_STATES = (STATE_ONSET, STATE_REONSET)

# --- recursive context --------------------------------------------------------------
TIME_SINCE_ONSET_CAP = 313  #: frames (about 10 s); the context divides by this
VELOCITY_SCALE = 128.0  #: the model sees and predicts velocity / 128

# --- pedal --------------------------------------------------------------------------
SUSTAIN_CC = 64
SUSTAIN_THRESHOLD = 64  #: CC64 value at or above which the pedal counts as down

# --- latency ------------------------------------------------------------------------
#: The look-ahead settings of the paper's latency table, in milliseconds.
LATENCY_SETTINGS_MS = (128, 160, 192, 224, 320)
#: Time widths of the six convolutions for each latency setting (MODEL.md). Width 3 sees the
#: previous, present and next frame (one future frame: +32 ms of look-ahead), width 1 the
#: present frame only, width 2 the previous and present frame (causal: no future frame).
#: 128 ms departs from the paper's (1, 1, 1, 1, 1, 1): with no conv across frames its features
#: carry no change over time, and no decoder of ours learnt to read them (sessions 12-17); the
#: causal first conv gives the frame-to-frame difference an onset needs, at the same look-ahead.
LATENCY_CONV_WIDTHS = {
    128: (2, 1, 1, 1, 1, 1),
    160: (3, 1, 1, 1, 1, 1),
    192: (3, 1, 3, 1, 1, 1),
    224: (3, 1, 3, 1, 3, 1),
    320: (3, 3, 3, 3, 3, 3),
}
DEFAULT_LATENCY_MS = 320


#: Time widths a convolution may have (see :func:`conv_time_padding`).
CONV_TIME_WIDTHS = (1, 2, 3)


def conv_time_padding(width: int) -> tuple[int, int]:
    """(past, future) frames a time convolution of ``width`` (1, 2 or 3) sees beside the present
    one: 1 → (0, 0), 2 → (1, 0) (causal), 3 → (1, 1)."""
    return width // 2, (width - 1) // 2


def latency_ms_for_widths(widths: tuple[int, ...]) -> int:
    """Algorithmic look-ahead in ms: 128 ms (STFT half window) + 32 ms per future frame."""
    future = sum(conv_time_padding(w)[1] for w in widths)
    return int(round(1000 * (WINDOW_HALF / SAMPLE_RATE + future * FRAME_SECONDS)))
