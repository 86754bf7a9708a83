"""Progress and cancellation, shared by the terminal and the Blender panel. No `bpy` module use.

The core never prints. Long work takes a :class:`Progress` and calls ``start``, ``advance``
and ``message``; a face subclasses it (a terminal bar, a queue drained by a modal operator).
Cancellation is cooperative: the face calls :meth:`Progress.cancel`, and the core calls
:meth:`Progress.check` between units of work, which raises :class:`Cancelled`.
"""

from __future__ import annotations

import threading

from .errors import Cancelled


class Progress:
    """No-op progress reporter with a thread-safe cancel flag. Subclass the ``on_*`` hooks."""

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self.total = 0
        self.done = 0
        self.label = ""

    # The core calls these.
    def start(self, total: int, label: str = "") -> None:
        self.total, self.done, self.label = max(0, total), 0, label
        self.on_update()

    def advance(self, n: int = 1) -> None:
        self.done += n
        self.on_update()

    def message(self, text: str) -> None:
        self.on_message(text)

    def check(self) -> None:
        """Raise :class:`Cancelled` if the face asked to stop."""
        if self._cancel.is_set():
            raise Cancelled("Cancelled; nothing after the last completed step was changed.")

    # The face calls these.
    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def fraction(self) -> float:
        return (self.done / self.total) if self.total else 0.0

    # Hooks for subclasses.
    def on_update(self) -> None:
        """Called after ``start`` and every ``advance``."""

    def on_message(self, text: str) -> None:
        """Called for every ``message``."""

