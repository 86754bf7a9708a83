"""Many calls at once on a bounded thread pool, one result per item. No `bpy` module use.

:func:`run_bulk` knows nothing of Flamenco: the client's ``submit_many``, ``cancel_many`` and
``delete_many`` (:mod:`.client`) build on it, so this module never imports the client. The
work runs on a bounded thread pool (for the client, over its shared session): at most
``max_in_flight`` calls are outstanding, and nothing is queued beyond that. Every item gets
a :class:`BulkResult` in input order; one failure never hides the others. Cancellation
(:meth:`Progress.cancel`) stops new items from starting while those in flight finish; the
items never started come back with a :class:`~..errors.Cancelled` error, so the caller can
record exactly what was done and then call ``progress.check()`` itself.

The client raises problems that would fail every item (the Manager unreachable or
unsupported) before anything is sent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

from ..errors import Cancelled
from ..progress import Progress

K = TypeVar("K")
V = TypeVar("V")


@dataclasses.dataclass(frozen=True)
class BulkResult(Generic[K, V]):
    """The outcome of one item: ``value`` when ``ok``, else ``error``."""

    key: K
    value: V | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def failures(results: Sequence[BulkResult[K, V]]) -> list[BulkResult[K, V]]:
    """The results that failed, in order."""
    return [r for r in results if not r.ok]


def run_bulk(
    work: Sequence[tuple[K, Callable[[], V]]],
    *,
    max_in_flight: int = 8,
    progress: Progress | None = None,
    label: str = "",
) -> list[BulkResult[K, V]]:
    """Run ``(key, call)`` pairs with at most ``max_in_flight`` at once; one result each.

    ``progress`` is started, advanced and checked from the calling thread only.
    """
    progress = progress if progress is not None else Progress()
    progress.start(len(work), label)
    results: list[BulkResult[K, V] | None] = [None] * len(work)
    pending: dict[Future[V], int] = {}
    scheduled = 0
    stopped = False
    workers = max(1, min(max_in_flight, len(work)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="farm-bulk") as pool:
        while True:
            if not stopped:
                try:
                    progress.check()
                except Cancelled:
                    stopped = True
            while not stopped and scheduled < len(work) and len(pending) < max_in_flight:
                pending[pool.submit(work[scheduled][1])] = scheduled
                scheduled += 1
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                key = work[index][0]
                error = future.exception()
                if error is None:
                    results[index] = BulkResult(key, value=future.result())
                else:
                    results[index] = BulkResult(key, error=error)
                progress.advance()
    for index in range(scheduled, len(work)):
        results[index] = BulkResult(work[index][0], error=Cancelled("Not started: cancelled."))
    return [r for r in results if r is not None]
