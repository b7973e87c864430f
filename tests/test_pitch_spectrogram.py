"""The pitch spectrogram drawn behind the notes (pure numpy/librosa; no Qt)."""

from __future__ import annotations

import numpy as np

from par_studio.constants import FRAME_SECONDS, SAMPLE_RATE
from par_studio.features import n_frames
from par_studio.gui.spectrum import pitch_spectrogram


def tone(pitch: int, seconds: float, start: float = 0.0, total: float | None = None) -> np.ndarray:
    n = int((total or seconds + start) * SAMPLE_RATE)
    y = np.zeros(n, np.float32)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    a = int(start * SAMPLE_RATE)
    y[a: a + len(t)] = 0.3 * np.sin(2 * np.pi * 440.0 * 2 ** ((pitch - 69) / 12) * t)
    return y


def test_each_row_is_a_key_on_the_note_frame_grid():
    for pitch in (33, 69, 100):  # A1, A4, E7
        y = tone(pitch, 1.0, start=1.0, total=3.0)
        img = pitch_spectrogram(y)
        assert img.dtype == np.uint8 and img.shape == (88, n_frames(len(y)))
        mid = int(round(1.5 / FRAME_SECONDS))
        assert int(np.argmax(img[:, mid])) == pitch - 21
        assert img.max() == 255
        # the energy starts and ends with the tone (within the analysis window)
        row = img[pitch - 21]
        loud = np.flatnonzero(row > 200) * FRAME_SECONDS
        assert 0.8 < loud.min() < 1.15 and 1.85 < loud.max() < 2.3


def test_chunks_match_one_pass_and_silence_is_blank():
    rng = np.random.default_rng(0)
    y = (tone(60, 6.0) + tone(67, 6.0) + 0.01 * rng.standard_normal(6 * SAMPLE_RATE)).astype(np.float32)
    one = pitch_spectrogram(y, chunk_frames=10_000)
    chunked = pitch_spectrogram(y, chunk_frames=37)
    assert one.shape == chunked.shape
    assert np.abs(one.astype(int) - chunked.astype(int)).max() <= 1
    assert not pitch_spectrogram(np.zeros(SAMPLE_RATE, np.float32)).any()
    assert pitch_spectrogram(np.zeros(0, np.float32)).shape == (88, 1)


def test_live_stream_gives_the_offline_columns_a_look_ahead_later():
    """Pushed in odd-sized blocks, the live stream yields every column once, in order, each
    only after 10 frames of audio past its centre were pushed, and matches the offline image
    (the stream's scale is the loudest column so far: equal once the tone has peaked)."""
    from par_studio.constants import HOP_LENGTH
    from par_studio.gui.spectrum import PitchSpectrogramStream

    y = tone(69, 2.0, start=1.0, total=4.0) + tone(45, 2.0, start=1.0, total=4.0)
    offline = pitch_spectrogram(y)
    st = PitchSpectrogramStream()
    cols, pushed = [], 0
    rng = np.random.default_rng(1)
    while pushed < len(y):
        n = int(rng.integers(100, 1500))
        t0, c = st.push(y[pushed: pushed + n])
        pushed += len(y[pushed: pushed + n])
        assert t0 == sum(x.shape[1] for x in cols)
        if c.shape[1]:
            assert (t0 + c.shape[1] - 1 + st.lag) * HOP_LENGTH <= pushed  # its look-ahead was heard
            cols.append(c)
    t0, c = st.push(np.zeros(0, np.float32), final=True)
    cols.append(c)
    live = np.concatenate(cols, axis=1)
    assert live.shape == offline.shape
    settled = slice(int(1.5 / FRAME_SECONDS), int(2.9 / FRAME_SECONDS))
    assert np.abs(live[:, settled].astype(int) - offline[:, settled].astype(int)).max() <= 3
    assert (np.argmax(live[:, settled], axis=0) == np.argmax(offline[:, settled], axis=0)).all()
    assert live[:, : int(0.5 / FRAME_SECONDS)].max() == 0  # silence before the tone stays dark


def test_rows_follow_the_piano_tuning():
    """A piano-like C4 played 35 cents sharp: at ``tuning_cents=35`` its fundamental and octave
    lie in the C4 and C5 rows, clearly above the rows either side, as the in-tune C4 does at
    A440; at 0 (the A440 rows) the same energy is split between C4 and C#4 (and C5 and C#5).
    Chunked with a tuning = one pass."""
    import soxr

    from conftest import piano_like

    r = 2.0 ** (35.0 / 1200.0)
    y = piano_like(3.0, notes=((0.2, 60, 0.8),))
    sharp = soxr.resample(y, SAMPLE_RATE, SAMPLE_RATE / r, quality="HQ").astype(np.float32)  # r × higher
    held = slice(int(0.4 / FRAME_SECONDS), int(1.2 / FRAME_SECONDS))  # while it sounds (both)

    def rows(img):  # mean level of each key row while the note sounds
        return img[:, held].astype(float).mean(axis=1)

    tuned, a440, in_tune = rows(pitch_spectrogram(sharp, tuning_cents=35.0)), rows(pitch_spectrogram(sharp)), \
        rows(pitch_spectrogram(y))
    for key in (60, 72):  # fundamental, second partial
        k = key - 21
        # tuned: the key's row stands out by about 6 dB (25 levels of 255 over 60 dB)
        assert tuned[k] - max(tuned[k - 1], tuned[k + 1]) > 15, (key, tuned[k - 1: k + 2])
        assert np.abs(tuned[k - 1: k + 2] - in_tune[k - 1: k + 2]).max() < 5  # as an in-tune piano
        # A440 rows: split, the row above nearly as bright (35 of 100 cents away vs 65)
        assert a440[k] - a440[k + 1] < 12 and a440[k + 1] - tuned[k + 1] > 10, (key, a440[k - 1: k + 2])
    one = pitch_spectrogram(sharp, chunk_frames=10_000, tuning_cents=35.0)
    chunked = pitch_spectrogram(sharp, chunk_frames=37, tuning_cents=35.0)
    assert np.abs(one.astype(int) - chunked.astype(int)).max() <= 1
    assert np.array_equal(pitch_spectrogram(sharp, tuning_cents=0.0), pitch_spectrogram(sharp))
