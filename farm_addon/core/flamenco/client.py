"""The Flamenco Manager client: typed calls, version-aware endpoints. No `bpy` module use.

:class:`FlamencoClient` talks to one Manager over one HTTP session (:mod:`.transport`:
retries, timeouts, errors). It reads the Manager's version once (:meth:`~FlamencoClient.handshake`)
and picks endpoints by what that version can do. Status changes are checked against the
job's current status before anything is sent (:mod:`.status`).
"""

from __future__ import annotations

import fnmatch
import threading
import urllib.parse
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import requests

from ..errors import BadInput
from . import bulk as _bulk
from .bulk import BulkResult
from .errors import (
    IncompatibleManager,
    ManagerError,
    NotFound,
    StaleJobType,
    TransitionRefused,
    UnexpectedResponse,
    UnknownWorkerTag,
)
from .handshake import Handshake
from .models import (
    AvailableJobType,
    AvailableJobTypes,
    FarmStatusReport,
    FlamencoVersion,
    Job,
    JobLastRenderedImageInfo,
    JobMassDeletionSelection,
    JobsQuery,
    JobsQueryResult,
    JobStatusChange,
    JobTasksSummary,
    ManagerConfiguration,
    ManagerVariable,
    ManagerVariables,
    SharedStorageLocation,
    SubmittedJob,
    TaskSummary,
    WorkerList,
    WorkerSummary,
    WorkerTag,
    WorkerTagList,
    current_platform,
)
from .status import REQUEST_STATUS, JobAction, check_transition
from .transport import DEFAULT_TIMEOUT, ManagerSession, Timeout, check_id, quote

if TYPE_CHECKING:
    from ..progress import Progress

AUDIENCES = ("users", "workers")


def _status_set(status: str | Iterable[str] | None) -> frozenset[str] | None:
    if status is None:
        return None
    return frozenset({status} if isinstance(status, str) else status)


class FlamencoClient(ManagerSession):
    """A client of one Flamenco Manager. Thread-safe; use as a context manager or ``close()``.

    ``timeout`` is ``(connect, read)`` seconds, used on every call; ``retries`` bounds the
    automatic retries; ``max_in_flight`` sizes the connection pool and is the default
    concurrency of the bulk operations.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retries: int = 3,
        max_in_flight: int = 8,
    ) -> None:
        super().__init__(
            base_url, timeout=timeout, retries=retries, max_in_flight=max_in_flight
        )
        self._handshake: Handshake | None = None
        self._handshake_lock = threading.Lock()
        self._job_types: dict[str, AvailableJobType] | None = None
        self._job_types_lock = threading.Lock()

    # Meta -------------------------------------------------------------------------------

    def handshake(self, *, refresh: bool = False) -> Handshake:
        """The Manager's version and farm's verdict on it; cached after the first call.

        Does not raise for an unsupported version: check ``compatible`` and ``message``,
        or call ``require_compatible()``. Operations that depend on the version do.
        """
        with self._handshake_lock:
            if self._handshake is not None and not refresh:
                return self._handshake
            what = "tell its version"
            try:
                response = self._request("GET", "/api/v3/version", what=what)
            except NotFound as exc:
                raise IncompatibleManager(
                    f"{self.base_url} does not look like a Flamenco Manager: "
                    "it has no /api/v3/version. Check the URL."
                ) from exc
            try:
                version = self._parse(FlamencoVersion, response, what)
            except UnexpectedResponse as exc:
                raise IncompatibleManager(
                    f"{self.base_url} does not look like a Flamenco Manager: "
                    "its version answer is not Flamenco's. Check the URL."
                ) from exc
            self._handshake = Handshake.from_version(version)
            return self._handshake

    def _features(self) -> Handshake:
        """The handshake, raising :class:`IncompatibleManager` for an unsupported Manager."""
        handshake = self.handshake()
        handshake.require_compatible()
        return handshake

    def configuration(self) -> ManagerConfiguration:
        response = self._request("GET", "/api/v3/configuration", what="send its configuration")
        return self._parse(ManagerConfiguration, response, "send its configuration")

    def shared_storage(
        self, audience: str = "users", platform: str | None = None
    ) -> SharedStorageLocation:
        """The shared storage location as ``audience`` on ``platform`` (default: this
        machine's) sees it."""
        path = f"/api/v3/configuration/shared-storage/{self._audience(audience)}/"
        path += quote(platform or current_platform())
        what = "tell its shared storage location"
        return self._parse(SharedStorageLocation, self._request("GET", path, what=what), what)

    def variables(
        self, audience: str = "users", platform: str | None = None
    ) -> dict[str, ManagerVariable]:
        """Variable name -> value and two-way flag, for ``audience`` on ``platform``."""
        path = f"/api/v3/configuration/variables/{self._audience(audience)}/"
        path += quote(platform or current_platform())
        what = "send its variables"
        return self._parse(ManagerVariables, self._request("GET", path, what=what), what).root

    @staticmethod
    def _audience(audience: str) -> str:
        if audience not in AUDIENCES:
            raise BadInput(f"Unknown audience '{audience}'; use 'users' or 'workers'.")
        return audience

    def farm_status(self) -> FarmStatusReport:
        what = "report the farm status"
        response = self._request("GET", "/api/v3/status", what=what)
        return self._parse(FarmStatusReport, response, what)

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

    # Workers ----------------------------------------------------------------------------

    def workers(self) -> list[WorkerSummary]:
        what = "list its workers"
        response = self._request("GET", "/api/v3/worker-mgt/workers", what=what)
        return self._parse(WorkerList, response, what).workers

    def worker_tags(self) -> list[WorkerTag]:
        self._features().require("has_worker_tags", "Worker tags")
        what = "list its worker tags"
        response = self._request("GET", "/api/v3/worker-mgt/tags", what=what)
        return self._parse(WorkerTagList, response, what).tags

    def worker_tag_id(self, name: str) -> str:
        """The ID of the worker tag called ``name`` (exact, else case-insensitive match);
        an existing tag ID is returned as is. :class:`UnknownWorkerTag` lists the known ones."""
        tags = [t for t in self.worker_tags() if t.id]
        folded = name.casefold()
        for found in (
            [t.id for t in tags if t.name == name],
            [t.id for t in tags if t.name.casefold() == folded],
            [t.id for t in tags if t.id == name],
        ):
            if len(found) == 1 and found[0]:
                return found[0]
        if not tags:
            raise UnknownWorkerTag(
                f"Unknown worker tag '{name}': Flamenco Manager has no worker tags."
            )
        known = ", ".join(sorted(t.name for t in tags))
        raise UnknownWorkerTag(f"Unknown worker tag '{name}'. Known tags: {known}.")

    # Bulk -------------------------------------------------------------------------------

    def submit_many(
        self, jobs: Sequence[SubmittedJob], progress: Progress | None = None
    ) -> list[BulkResult[int, Job]]:
        """Submit jobs concurrently; see :func:`.bulk.submit_many`."""
        return _bulk.submit_many(self, jobs, progress)

    def cancel_many(
        self, ids: Sequence[str], reason: str, progress: Progress | None = None
    ) -> list[BulkResult[str, None]]:
        """Cancel jobs concurrently; see :func:`.bulk.cancel_many`."""
        return _bulk.cancel_many(self, ids, reason, progress)

    def delete_many(
        self, ids: Sequence[str], progress: Progress | None = None
    ) -> list[BulkResult[str, None]]:
        """Delete jobs concurrently; see :func:`.bulk.delete_many`."""
        return _bulk.delete_many(self, ids, progress)
