"""The Flamenco Manager client: typed calls, version-aware endpoints. No `bpy` module use.

:class:`FlamencoClient` talks to one Manager over one HTTP session (:mod:`.transport`:
retries, timeouts, errors). It reads the Manager's version once (:mod:`.manager`:
:meth:`~.manager.ManagerInfo.handshake`, configuration, workers) and picks endpoints by what
that version can do. Status changes are checked against the job's current status before
anything is sent (:mod:`.status`). Many jobs at once (``submit_many``, ``cancel_many``,
``delete_many``) run on :func:`.bulk.run_bulk`, over the same session.
"""

from __future__ import annotations

import fnmatch
import functools
import threading
import urllib.parse
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests

from .bulk import BulkResult, run_bulk
from .errors import ManagerError, NotFound, StaleJobType, TransitionRefused
from .manager import ManagerInfo
from .models import (
    AvailableJobType,
    AvailableJobTypes,
    Job,
    JobLastRenderedImageInfo,
    JobMassDeletionSelection,
    JobsQuery,
    JobsQueryResult,
    JobStatusChange,
    JobTasksSummary,
    SubmittedJob,
    TaskSummary,
)
from .status import REQUEST_STATUS, JobAction, check_transition
from .transport import check_id, quote

if TYPE_CHECKING:
    from ..progress import Progress


def _status_set(status: str | Iterable[str] | None) -> frozenset[str] | None:
    if status is None:
        return None
    return frozenset({status} if isinstance(status, str) else status)


class FlamencoClient(ManagerInfo):
    """A client of one Flamenco Manager. Thread-safe; use as a context manager or ``close()``.

    ``timeout`` is ``(connect, read)`` seconds, used on every call; ``retries`` bounds the
    automatic retries; ``max_in_flight`` sizes the connection pool and is the default
    concurrency of the bulk operations.
    """

    def __init__(self, base_url: str, **options: Any) -> None:
        """``options``: those of :class:`~.transport.ManagerSession` (``timeout``,
        ``retries``, ``max_in_flight``)."""
        super().__init__(base_url, **options)
        self._job_types: dict[str, AvailableJobType] | None = None
        self._job_types_lock = threading.Lock()

    # Job types --------------------------------------------------------------------------

    def job_types(self, *, refresh: bool = False) -> list[AvailableJobType]:
        """The Manager's job types, cached (with their etags) after the first call."""
        with self._job_types_lock:
            if self._job_types is None or refresh:
                what = "list its job types"
                response = self._request("GET", "/api/v3/jobs/types", what=what)
                types = self._parse(AvailableJobTypes, response, what).job_types
                self._job_types = {t.name: t for t in types}
            return list(self._job_types.values())

    def job_type(self, name: str, *, refresh: bool = False) -> AvailableJobType:
        """One job type, from the cache when possible; :class:`NotFound` when unknown."""
        types = {t.name: t for t in self.job_types(refresh=refresh)}
        if name not in types and not refresh:
            types = {t.name: t for t in self.job_types(refresh=True)}
        if name not in types:
            known = ", ".join(sorted(types)) or "none"
            raise NotFound(f"Flamenco Manager has no job type '{name}' (it has: {known}).")
        return types[name]

    def _refresh_job_type(self, name: str, stale_etag: str | None) -> AvailableJobType:
        """Fetch ``name`` again unless another thread already replaced ``stale_etag``."""
        with self._job_types_lock:
            cached = (self._job_types or {}).get(name)
            if cached is not None and cached.etag != stale_etag:
                return cached
            what = f"send job type '{name}'"
            response = self._request(
                "GET",
                f"/api/v3/jobs/type/{quote(name)}",
                what=what,
                not_found=f"Flamenco Manager no longer has job type '{name}'.",
            )
            fresh = self._parse(AvailableJobType, response, what)
            if self._job_types is not None:
                self._job_types[name] = fresh
            return fresh

    # Jobs -------------------------------------------------------------------------------

    def check_job(self, job: SubmittedJob) -> None:
        """Let the Manager compile ``job`` without storing it; raise if it would be refused."""
        self._send_job(job, "/api/v3/jobs/check", (204,), f"check job '{job.name}'")

    def submit_job(self, job: SubmittedJob) -> Job:
        """Submit ``job``. ``type_etag`` is taken from the cached job type when empty; if the
        job type changed meanwhile (412), it is refreshed and the job sent once more."""
        response = self._send_job(job, "/api/v3/jobs", (200,), f"submit job '{job.name}'")
        return self._parse(Job, response, f"submit job '{job.name}'")

    def _send_job(
        self, job: SubmittedJob, path: str, ok: Collection[int], what: str
    ) -> requests.Response:
        handshake = self._features()
        if job.initial_status is not None:
            handshake.require("has_initial_status", "Submitting a job with an initial status")
        if job.type_etag is not None:
            try:
                return self._request("POST", path, json=job.to_json(), ok=ok, what=what)
            except StaleJobType as exc:
                raise StaleJobType(
                    f"Job type '{job.type}' changed on the Manager since this job was made; "
                    "make it again."
                ) from exc
        etag = self.job_type(job.type).etag
        body = job.model_copy(update={"type_etag": etag})
        try:
            return self._request("POST", path, json=body.to_json(), ok=ok, what=what)
        except StaleJobType:
            etag = self._refresh_job_type(job.type, etag).etag
        body = job.model_copy(update={"type_etag": etag})
        try:
            return self._request("POST", path, json=body.to_json(), ok=ok, what=what)
        except StaleJobType as exc:
            raise StaleJobType(
                f"Job type '{job.type}' keeps changing on the Manager; "
                f"could not {what}. Try again in a moment."
            ) from exc

    def get_job(self, job_id: str) -> Job:
        check_id(job_id)
        what = f"send job {job_id}"
        response = self._request(
            "GET",
            f"/api/v3/jobs/{job_id}",
            what=what,
            not_found=f"Flamenco Manager has no job {job_id}.",
        )
        return self._parse(Job, response, what)

    def jobs(
        self,
        status: str | Iterable[str] | None = None,
        name: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> list[Job]:
        """Jobs not marked for deletion, optionally filtered (on this side) by status (one or
        several), name (a glob like ``"shot_*"``) and metadata (exact match of every pair)."""
        statuses = _status_set(status)
        what = "list its jobs"
        if self._features().has_get_jobs:
            response = self._request("GET", "/api/v3/jobs", what=what)
        else:
            query = JobsQuery(status_in=sorted(statuses) if statuses else None)
            response = self._request("POST", "/api/v3/jobs/query", json=query.to_json(), what=what)
        found = self._parse(JobsQueryResult, response, what).jobs
        wanted = dict(metadata or {})
        return [
            job
            for job in found
            if job.delete_requested_at is None
            and (statuses is None or job.status in statuses)
            and (name is None or fnmatch.fnmatchcase(job.name, name))
            and all((job.metadata or {}).get(k) == v for k, v in wanted.items())
        ]

    def job_tasks(self, job_id: str) -> list[TaskSummary]:
        check_id(job_id)
        what = f"list the tasks of job {job_id}"
        response = self._request(
            "GET",
            f"/api/v3/jobs/{job_id}/tasks",
            what=what,
            not_found=f"Flamenco Manager has no job {job_id}.",
        )
        return self._parse(JobTasksSummary, response, what).tasks

    def _job_state(self, job: str | Job, status: str | None) -> tuple[str, str, str]:
        """``(id, label, current status)``, fetching the job when its status is not known."""
        if isinstance(job, Job):
            return job.id, job.label, status or job.status
        check_id(job)
        if status is not None:
            return job, job, status
        fetched = self.get_job(job)
        return fetched.id, fetched.label, fetched.status

    def _set_status(
        self, action: JobAction, job: str | Job, reason: str, status: str | None
    ) -> None:
        job_id, label, current = self._job_state(job, status)
        check_transition(action, current, label)
        requested = REQUEST_STATUS[action]
        assert requested is not None
        body = JobStatusChange(status=requested, reason=reason).to_json()
        what = f"{action.value} job '{label}'"
        try:
            self._request(
                "POST",
                f"/api/v3/jobs/{job_id}/setstatus",
                json=body,
                ok=(204,),
                what=what,
                not_found=f"Flamenco Manager has no job {job_id}.",
            )
        except ManagerError as exc:
            if exc.status == 422:
                raise TransitionRefused(
                    f"Flamenco Manager refused to {what}: {exc.manager_message}", status=current
                ) from exc
            raise

    def cancel_job(self, job: str | Job, reason: str, *, status: str | None = None) -> None:
        """Ask the Manager to cancel a job (sends ``cancel-requested``).

        ``job`` is an ID or a :class:`Job`; ``status`` is its current status if known,
        otherwise it is fetched. Raises :class:`TransitionRefused` without sending anything
        when the status does not allow it.
        """
        self._set_status(JobAction.CANCEL, job, reason, status)

    def pause_job(self, job: str | Job, reason: str, *, status: str | None = None) -> None:
        """Ask the Manager to pause a job (sends ``pause-requested``); see :meth:`cancel_job`."""
        self._set_status(JobAction.PAUSE, job, reason, status)

    def requeue_job(self, job: str | Job, reason: str, *, status: str | None = None) -> None:
        """Ask the Manager to requeue a job (sends ``requeueing``); see :meth:`cancel_job`."""
        self._set_status(JobAction.REQUEUE, job, reason, status)

    def delete_job(self, job: str | Job, *, status: str | None = None) -> None:
        """Queue a job for deletion (render output is never deleted); same checks as cancel."""
        job_id, label, current = self._job_state(job, status)
        check_transition(JobAction.DELETE, current, label)
        self._request(
            "DELETE",
            f"/api/v3/jobs/{job_id}",
            ok=(204,),
            what=f"delete job '{label}'",
            not_found=f"Flamenco Manager has no job {job_id}.",
        )

    def mass_delete(self, last_updated_max: datetime) -> bool:
        """Queue every job last updated at or before ``last_updated_max`` for deletion.

        A naive datetime is taken as local time. Returns False when no job matched (which,
        after a retried request, can also mean the lost first attempt already did it).
        """
        self._features().require("has_mass_delete", "Deleting jobs in bulk")
        when = last_updated_max if last_updated_max.tzinfo else last_updated_max.astimezone()
        body = JobMassDeletionSelection(last_updated_max=when).to_json()
        response = self._request(
            "DELETE",
            "/api/v3/jobs/mass-delete",
            json=body,
            ok=(204, 416),
            what="delete old jobs",
        )
        return response.status_code == 204

    # Previews and logs ------------------------------------------------------------------

    def last_rendered(self, job_id: str | None = None) -> JobLastRenderedImageInfo | None:
        """Where the last-rendered image of a job (or of the farm) is; None when there is none."""
        if job_id is None:
            path, what = "/api/v3/jobs/last-rendered", "tell the last-rendered image"
        else:
            check_id(job_id)
            path = f"/api/v3/jobs/{job_id}/last-rendered"
            what = f"tell the last-rendered image of job {job_id}"
        not_found = f"Flamenco Manager has no job {job_id}." if job_id else None
        response = self._request("GET", path, ok=(200, 204), what=what, not_found=not_found)
        if response.status_code == 204:
            return None
        return self._parse(JobLastRenderedImageInfo, response, what)

    def last_rendered_image(
        self, job_id: str | None = None, suffix: str | None = None
    ) -> bytes | None:
        """The last-rendered image's bytes (``suffix`` picks the size; default the first one),
        or None when there is no image yet."""
        info = self.last_rendered(job_id)
        if info is None:
            return None
        chosen = suffix or (info.suffixes[0] if info.suffixes else None)
        if chosen is None:
            return None
        url = urllib.parse.urljoin(self.base_url + "/", f"{info.base.rstrip('/')}/{chosen}")
        response = self._request(
            "GET", url, ok=(200, 404), what="send the last-rendered image", accept="*/*"
        )
        return response.content if response.status_code == 200 else None

    def task_log_tail(self, task_id: str) -> str:
        """The last lines of a task's log; empty when it has no log yet."""
        check_id(task_id, "task")
        what = f"send the log of task {task_id}"
        response = self._request(
            "GET",
            f"/api/v3/tasks/{task_id}/logtail",
            ok=(200, 204),
            what=what,
            not_found=f"Flamenco Manager has no task {task_id}.",
            accept="text/plain, application/json",
        )
        return response.text if response.status_code == 200 else ""

    # Bulk -------------------------------------------------------------------------------

    def submit_many(
        self,
        jobs: Sequence[SubmittedJob],
        progress: Progress | None = None,
        *,
        max_in_flight: int | None = None,
    ) -> list[BulkResult[int, Job]]:
        """Submit jobs concurrently; each result's key is the job's index in ``jobs``."""
        if jobs:
            self.handshake().require_compatible()
            self.job_types()
        work = [(i, functools.partial(self.submit_job, job)) for i, job in enumerate(jobs)]
        return run_bulk(work, max_in_flight=max_in_flight or self.max_in_flight,
                        progress=progress, label="Submitting jobs")

    def cancel_many(
        self,
        ids: Sequence[str],
        reason: str,
        progress: Progress | None = None,
        *,
        max_in_flight: int | None = None,
    ) -> list[BulkResult[str, None]]:
        """Cancel jobs by ID concurrently; refused transitions are per-item
        :class:`TransitionRefused` errors."""
        known = self._known_jobs(ids)
        work = [(job_id, functools.partial(self.cancel_job, known.get(job_id, job_id), reason))
                for job_id in ids]
        return run_bulk(work, max_in_flight=max_in_flight or self.max_in_flight,
                        progress=progress, label="Cancelling jobs")

    def delete_many(
        self,
        ids: Sequence[str],
        progress: Progress | None = None,
        *,
        max_in_flight: int | None = None,
    ) -> list[BulkResult[str, None]]:
        """Queue jobs for deletion by ID concurrently; same rules as :meth:`delete_job`."""
        known = self._known_jobs(ids)
        work = [(job_id, functools.partial(self.delete_job, known.get(job_id, job_id)))
                for job_id in ids]
        return run_bulk(work, max_in_flight=max_in_flight or self.max_in_flight,
                        progress=progress, label="Deleting jobs")

    def _known_jobs(self, ids: Sequence[str]) -> dict[str, Job]:
        """One listing of the Manager's jobs, so each item need not fetch its status."""
        return {job.id: job for job in self.jobs()} if ids else {}
