"""Progress display for long CLI work (on stderr, so stdout stays clean for data)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    """A counter that redraws one status line at most ten times a second."""

    def __init__(self, label: str, total: int | None, stream: TextIO = sys.stderr) -> None:
        self.label, self.total, self.stream = label, total, stream
        self.done = 0
        self.started = time.monotonic()
        self._last = 0.0

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= 0.1 or (self.total and self.done >= self.total):
            self._last = now
            self._draw()

    def set(self, done: int) -> None:
        self.advance(done - self.done)

    def _draw(self, end: str = "") -> None:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            pct = 100.0 * self.done / self.total
            text = f"\r{self.label}: {self.done:,}/{self.total:,} ({pct:5.1f}%) {rate:,.0f}/s"
        else:
            text = f"\r{self.label}: {self.done:,} {rate:,.0f}/s"
        self.stream.write(text + end)
        self.stream.flush()

    def close(self) -> None:
        self._draw(end=f" done in {time.monotonic() - self.started:.1f}s\n")


@contextmanager
def progress(label: str, total: int | None = None) -> Iterator[Progress]:
    """Context manager yielding a Progress that prints its final line on exit."""
    p = Progress(label, total)
    try:
        yield p
    finally:
        p.close()
