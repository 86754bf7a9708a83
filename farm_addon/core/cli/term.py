"""Terminal progress: a bar on stderr when it is a terminal, a line now and then when not.
No `bpy` module use."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ..progress import Progress


class TerminalProgress(Progress):
    """Draws ``label [#####.....] 12/40`` on one line of stderr, redrawn at most 10 times a
    second; prints plain lines every few seconds when stderr is not a terminal (CI logs)."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False,
                 width: int = 30) -> None:
        super().__init__()
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = 0.0
        self._drawn = False

    def on_update(self) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        finished = bool(self.total) and self.done >= self.total
        if self.tty:
            if not finished and now - self._last < 0.1 and self.done:
                return
            self._last = now
            filled = int(self.width * self.fraction)
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total}\x1b[K")
            self._drawn = True
            if finished:
                self.stream.write("\n")
                self._drawn = False
        else:
            # A log, not a screen: a line when a step ends, and every few seconds meanwhile.
            if not self._last:
                self._last = now
            if not self.total or not (finished or now - self._last >= 5.0):
                return
            self._last = now
            self.stream.write(f"{self.label}: {self.done}/{self.total}\n")
        self.stream.flush()

    def on_message(self, text: str) -> None:
        if self.quiet:
            return
        if self._drawn:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()
        self._drawn = False
