"""Fault injection: latency, 503/500 answers and dropped connections, per method and path."""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass
from typing import Literal, get_args

FaultKind = Literal["latency", "503", "500", "drop", "drop_after"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


@dataclass
class Fault:
    """One injected fault.

    ``kind``:
      - ``latency``: wait ``seconds`` then handle the request normally;
      - ``503``: answer 503 with a ``Retry-After: <retry_after>`` header, without handling;
      - ``500``: answer 500 without handling;
      - ``drop``: close the connection before handling (no state change);
      - ``drop_after``: handle the request (state changes!) then close without answering.

    ``method`` None matches any method; ``path`` None matches any path, else it is a glob
    (``fnmatch``; ``*`` also matches ``/``). ``count`` None means forever, else the fault fires
    that many times and is then removed.
    """

    kind: str
    method: str | None = None
    path: str | None = None
    count: int | None = None
    seconds: float = 0.02
    retry_after: int = 1
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or fnmatch.fnmatchcase(path, self.path)


@dataclass(frozen=True)
class FaultDecision:
    """What the server must do for one request: wait, then maybe misbehave."""

    latency: float = 0.0
    fault: Fault | None = None


class FaultSet:
    """The faults injected into one emulator. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        method: str | None = None,
        path: str | None = None,
        kind: FaultKind = "503",
        count: int | None = None,
        seconds: float = 0.02,
        retry_after: int = 1,
    ) -> Fault:
        """Inject a fault; see :class:`Fault`. Returns it (its ``fired`` counts hits)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {FAULT_KINDS}")
        if count is not None and count < 1:
            raise ValueError("count must be None (forever) or at least 1")
        fault = Fault(kind, method, path, count, seconds, retry_after)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def remove(self, fault: Fault) -> None:
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)

    def snapshot(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def decide(self, method: str, path: str) -> FaultDecision:
        """Consume the faults matching this request.

        Every matching latency fault adds its delay; the first matching non-latency fault is the
        one that applies. Counts of the faults used go down; spent ones are removed.
        """
        latency = 0.0
        chosen: Fault | None = None
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(method, path):
                    continue
                if fault.kind == "latency":
                    latency += fault.seconds
                elif chosen is None:
                    chosen = fault
                else:
                    continue
                fault.fired += 1
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
        return FaultDecision(latency, chosen)
