"""Job endpoints: job types, check, submit, list/query, fetch, status, priority, tag, delete."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from .. import statemachine
from ..compiler import (
    CompiledJob,
    CompileError,
    EtagMismatch,
    JobTypeUnknown,
    available_job_type,
    available_job_types,
    compile_job,
)
from ..state import Job, Task, is_uuid, new_uuid, utcnow
from ..variables import normalise_platform
from ..versions import ManagerVersion
from .routing import ApiError, RequestContext, Response, Router
from .serialize import LAST_RENDERED_SUFFIXES, job_files_base, job_json, task_summary_json

INITIAL_STATUSES = ("queued", "paused")


def register(router: Router) -> None:
    def tags(v: ManagerVersion) -> bool:
        return v.has_worker_tags

    router.add("GET", "/api/v3/jobs/types")(get_job_types)
    router.add("GET", "/api/v3/jobs/type/{typeName}")(get_job_type)
    router.add("POST", "/api/v3/jobs/check")(check_job)
    router.add("POST", "/api/v3/jobs")(submit_job)
    router.add("GET", "/api/v3/jobs", lambda v: v.has_fetch_jobs)(fetch_jobs)
    router.add("POST", "/api/v3/jobs/query", lambda v: v.has_jobs_query)(query_jobs)
    router.add("DELETE", "/api/v3/jobs/mass-delete", lambda v: v.has_mass_delete)(mass_delete)
    router.add("GET", "/api/v3/jobs/last-rendered")(global_last_rendered)
    router.add("GET", "/api/v3/jobs/{job_id}")(fetch_job)
    router.add("DELETE", "/api/v3/jobs/{job_id}")(delete_job)
    router.add("GET", "/api/v3/jobs/{job_id}/what-would-delete-do")(what_would_delete_do)
    router.add("GET", "/api/v3/jobs/{job_id}/last-rendered")(job_last_rendered)
    router.add("POST", "/api/v3/jobs/{job_id}/setstatus")(set_job_status)
    router.add("POST", "/api/v3/jobs/{job_id}/setpriority")(set_job_priority)
    router.add("POST", "/api/v3/jobs/{job_id}/settag", tags)(set_job_tag)
    router.add("GET", "/api/v3/jobs/{job_id}/tasks")(fetch_job_tasks)
    router.add("GET", "/api/v3/jobs/{job_id}/blocklist")(fetch_blocklist)
    router.add("DELETE", "/api/v3/jobs/{job_id}/blocklist")(remove_blocklist)


def get_job(ctx: RequestContext, job_id: str | None = None) -> Job:
    """The job of the ``job_id`` path parameter: 400 when not a UUID, 404 when unknown."""
    job_id = job_id if job_id is not None else ctx.params["job_id"]
    if not is_uuid(job_id):
        raise ApiError(400, "job ID should be a UUID")
    job = ctx.emu.store.jobs.get(job_id)
    if job is None:
        raise ApiError(404, "no such job")
    return job


# Job types --------------------------------------------------------------------------------------
def get_job_types(ctx: RequestContext) -> Response:
    return Response(body={"job_types": available_job_types()})


def get_job_type(ctx: RequestContext) -> Response:
    try:
        return Response(body=available_job_type(ctx.params["typeName"]))
    except JobTypeUnknown:
        raise ApiError(404, f"no such job type known: {ctx.params['typeName']!r}") from None


# Submission -------------------------------------------------------------------------------------
class _Submission:
    """A submitted job, rewritten for two-way variables and compiled."""

    def __init__(self, ctx: RequestContext) -> None:
        body = ctx.json_object()
        emu = ctx.emu
        version = emu.manager_version
        self.body = body
        self.platform = normalise_platform(str(body.get("submitter_platform", "")))
        settings = emu.variables.replace_twoway_in(body.get("settings") or {}, self.platform)
        self.metadata: dict[str, str] = emu.variables.replace_twoway_in(
            body.get("metadata") or {}, self.platform)
        self.created = utcnow()
        self.worker_tag = self._worker_tag(ctx)
        self.initial_status = "queued"
        if version.has_initial_status and body.get("initial_status"):
            self.initial_status = body["initial_status"]
            if self.initial_status not in INITIAL_STATUSES:
                raise ApiError(400, f'initial status "{self.initial_status}" is not allowed, '
                                    f"use one of {', '.join(INITIAL_STATUSES)}")
        try:
            self.compiled: CompiledJob = compile_job(
                str(body.get("type", "")), settings, self.created, version,
                body.get("type_etag") or None)
        except EtagMismatch as ex:
            raise ApiError(412, str(ex)) from None
        except CompileError as ex:
            raise ApiError(400, f"error compiling job: {ex}") from None

    @staticmethod
    def _worker_tag(ctx: RequestContext) -> str | None:
        tag_id = ctx.json_object().get("worker_tag") or None
        if tag_id is None or not ctx.emu.manager_version.has_worker_tags:
            return None
        if tag_id not in ctx.emu.store.tags:
            raise ApiError(400, f"unknown worker tag {tag_id!r}")
        return str(tag_id)

    def store(self, ctx: RequestContext) -> Job:
        store = ctx.emu.store
        body = self.body
        storage = body.get("storage") or {}
        job = Job(
            id=new_uuid(), name=str(body["name"]), type=str(body["type"]),
            priority=int(body.get("priority", 50)), submitter_platform=self.platform,
            settings=self.compiled.settings, metadata=self.metadata,
            type_etag=body.get("type_etag") or None, worker_tag=self.worker_tag,
            shaman_checkout_id=storage.get("shaman_checkout_id") or None,
            created=self.created, updated=self.created,
        )
        task_ids = [new_uuid() for _ in self.compiled.tasks]
        for index, authored in enumerate(self.compiled.tasks):
            task = Task(
                id=task_ids[index], job_id=job.id, name=authored.name,
                task_type=authored.task_type, index_in_job=index, commands=authored.commands,
                steps_total=authored.steps_total, priority=authored.priority,
                depends_on=[task_ids[d] for d in authored.depends_on],
                created=self.created, updated=self.created,
            )
            store.tasks[task.id] = task
        job.task_ids = task_ids
        store.jobs[job.id] = job
        statemachine.set_job_status(store, job, self.initial_status, "Job was submitted")
        return job


def check_job(ctx: RequestContext) -> Response:
    _Submission(ctx)
    return Response(204)


def submit_job(ctx: RequestContext) -> Response:
    job = _Submission(ctx).store(ctx)
    return Response(body=job_json(job, ctx.emu.store, ctx.emu.manager_version))


# Listing ----------------------------------------------------------------------------------------
def _listed_jobs(ctx: RequestContext) -> list[Job]:
    return [j for j in ctx.emu.store.jobs.values() if j.delete_requested_at is None]


def fetch_jobs(ctx: RequestContext) -> Response:
    emu = ctx.emu
    jobs = [job_json(j, emu.store, emu.manager_version) for j in _listed_jobs(ctx)]
    return Response(body={"jobs": jobs})


def _like(pattern: str, value: str) -> bool:
    """SQL ``LIKE`` (``%`` and ``_``), case-insensitive like SQLite's."""
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL) is not None


_ORDER_FIELDS = {"created": "created", "created_at": "created", "updated": "updated",
                 "updated_at": "updated", "status": "status", "name": "name",
                 "priority": "priority", "type": "type", "job_type": "type"}


def query_jobs(ctx: RequestContext) -> Response:
    query = ctx.json_object()
    jobs = _listed_jobs(ctx)
    if query.get("status_in"):
        jobs = [j for j in jobs if j.status in query["status_in"]]
    for key, pattern in (query.get("metadata") or {}).items():
        jobs = [j for j in jobs if key in j.metadata and _like(str(pattern), j.metadata[key])]
    for key, pattern in (query.get("settings") or {}).items():
        jobs = [j for j in jobs if key in j.settings and _like(str(pattern), str(j.settings[key]))]
    for field_name in reversed(query.get("order_by") or []):
        descending = field_name.startswith("-")
        attr = _ORDER_FIELDS.get(field_name.lstrip("-"))
        if attr is None:
            raise ApiError(400, f"cannot order by {field_name!r}")
        jobs.sort(key=lambda j, a=attr: getattr(j, a), reverse=descending)  # type: ignore[misc]
    offset = int(query.get("offset") or 0)
    limit = query.get("limit")
    jobs = jobs[offset:] if limit is None else jobs[offset : offset + int(limit)]
    emu = ctx.emu
    return Response(body={"jobs": [job_json(j, emu.store, emu.manager_version) for j in jobs]})


def fetch_job(ctx: RequestContext) -> Response:
    job = get_job(ctx)
    return Response(body=job_json(job, ctx.emu.store, ctx.emu.manager_version))


def fetch_job_tasks(ctx: RequestContext) -> Response:
    job = get_job(ctx)
    emu = ctx.emu
    tasks = [task_summary_json(t, emu.store, emu.manager_version)
             for t in emu.store.job_tasks(job)]
    return Response(body={"tasks": tasks})


# Changes ----------------------------------------------------------------------------------------
def set_job_status(ctx: RequestContext) -> Response:
    job = get_job(ctx)
    body = ctx.json_object()
    statemachine.set_job_status(ctx.emu.store, job, str(body["status"]),
                                str(body.get("reason", "")))
    return Response(204)


def set_job_priority(ctx: RequestContext) -> Response:
    job = get_job(ctx)
    job.priority = int(ctx.json_object()["priority"])
    job.touch()
    return Response(204)


def set_job_tag(ctx: RequestContext) -> Response:
    job = get_job(ctx)
    body = ctx.json_object()
    tag_id, tag_name = body.get("id") or "", body.get("name") or ""
    store = ctx.emu.store
    if tag_id and tag_name:
        raise ApiError(422, "give either the tag id or its name, not both")
    if tag_name and not ctx.emu.manager_version.has_settag_by_name:
        raise ApiError(422, "this Manager only accepts a tag id")
    if not tag_id and not tag_name:
        job.worker_tag = None
    else:
        tag = store.tags.get(tag_id) if tag_id else store.find_tag(tag_name)
        if tag is None:
            raise ApiError(422, f"no such worker tag: {tag_id or tag_name!r}")
        job.worker_tag = tag.id
    job.touch()
    return Response(204)


def fetch_blocklist(ctx: RequestContext) -> Response:
    get_job(ctx)
    return Response(body=[])


def remove_blocklist(ctx: RequestContext) -> Response:
    get_job(ctx)
    return Response(204)


# Deletion ---------------------------------------------------------------------------------------
def delete_job(ctx: RequestContext) -> Response:
    job = get_job(ctx)
    ctx.emu.request_deletion([job])
    return Response(204)


def what_would_delete_do(ctx: RequestContext) -> Response:
    job = get_job(ctx)
    return Response(body={"shaman_checkout": bool(ctx.emu.shaman and job.shaman_checkout_id)})


def _parse_datetime(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"invalid date-time {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def mass_delete(ctx: RequestContext) -> Response:
    body = ctx.json_object()
    if not body.get("last_updated_max"):
        raise ApiError(400, "last_updated_max is required")
    cutoff = _parse_datetime(str(body["last_updated_max"]))
    if cutoff.microsecond:  # rounded up to whole seconds, as the Manager does
        cutoff = cutoff.replace(microsecond=0) + timedelta(seconds=1)
    jobs = [j for j in _listed_jobs(ctx) if j.updated <= cutoff]
    if not jobs:
        raise ApiError(416, "no jobs matched the criteria")
    ctx.emu.request_deletion(jobs)
    return Response(204)


# Last-rendered images ---------------------------------------------------------------------------
def _last_rendered(job: Job | None) -> Response:
    if job is None or job.last_rendered is None:
        return Response(204)
    return Response(body={"base": job_files_base(job.id), "suffixes": LAST_RENDERED_SUFFIXES})


def job_last_rendered(ctx: RequestContext) -> Response:
    return _last_rendered(get_job(ctx))


def global_last_rendered(ctx: RequestContext) -> Response:
    store = ctx.emu.store
    return _last_rendered(store.jobs.get(store.last_rendered_job or ""))

