"""Single-producer / single-consumer float32 ring buffer (numpy), lock-free style.

The producer (an audio callback or a file thread) only calls :meth:`write`; the consumer (a
GUI timer, the CLI loop) only calls :meth:`read`. Each side owns one monotonically growing
counter (``_w`` written samples, ``_r`` read samples) and only reads the other's; the data is
copied *before* the counter is published, so no lock is needed (under CPython a plain int
store is atomic). A write that does not fit is truncated to the free space; the dropped
samples and blocks are counted (``overflows``), never blocking the audio thread.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    def __init__(self, capacity: int):
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = int(capacity)
        self._buf = np.zeros(self.capacity, np.float32)
        self._w = 0  # total samples written (producer-owned)
        self._r = 0  # total samples read (consumer-owned)
        self.overflows = 0  #: writes that did not fit completely (producer-owned)
        self.dropped_samples = 0  #: samples lost to overflow (producer-owned)

    # ------------------------------------------------------------------ both sides
    def available(self) -> int:
        """Samples ready to read."""
        return self._w - self._r

    def free(self) -> int:
        return self.capacity - (self._w - self._r)

    # ------------------------------------------------------------------ producer
    def write(self, data) -> int:
        """Copy ``data`` in; returns the samples stored (the rest is dropped and counted)."""
        x = np.asarray(data, np.float32).reshape(-1)
        n = len(x)
        w = self._w
        room = self.capacity - (w - self._r)
        if n > room:
            self.overflows += 1
            self.dropped_samples += n - room
            x, n = x[:room], room
        if n == 0:
            return 0
        i = w % self.capacity
        first = min(n, self.capacity - i)
        self._buf[i: i + first] = x[:first]
        if first < n:
            self._buf[: n - first] = x[first:]
        self._w = w + n  # publish after the copy
        return n

    # ------------------------------------------------------------------ consumer
    def read(self, max_samples: int | None = None) -> np.ndarray:
        """Copy out (and consume) up to ``max_samples`` available samples (default: all)."""
        r = self._r
        n = self._w - r
        if max_samples is not None:
            n = min(n, int(max_samples))
        out = np.empty(n, np.float32)
        if n:
            i = r % self.capacity
            first = min(n, self.capacity - i)
            out[:first] = self._buf[i: i + first]
            if first < n:
                out[first:] = self._buf[: n - first]
            self._r = r + n  # release after the copy
        return out
