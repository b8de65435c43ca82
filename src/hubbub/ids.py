"""Time-ordered unique ids (UUID version 7, RFC 9562), monotonic within a process.

The chat's message ids are ``<ms timestamp>-<newuuid()>``; with these uuids two messages
stamped in the same millisecond still sort in the order the rules engine saw them
(RFC 9562 §6.2, method 1: a 12-bit counter in ``rand_a``, bumping the time when it wraps).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable


class Uuid7:
    def __init__(self, clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000
                 ) -> None:
        self._clock_ms = clock_ms
        self._last_ms = -1
        self._counter = 0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            ms = self._clock_ms()
            if ms > self._last_ms:
                self._last_ms = ms
                self._counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # room to grow
            else:
                self._counter += 1
                if self._counter > 0xFFF:  # counter wrapped: borrow the next millisecond
                    self._last_ms += 1
                    self._counter = 0
                ms = self._last_ms
            value = (ms & 0xFFFF_FFFF_FFFF) << 80
            value |= 0x7 << 76 | self._counter << 64
            value |= 0b10 << 62 | int.from_bytes(os.urandom(8), "big") >> 2
        h = f"{value:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
