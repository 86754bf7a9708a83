"""Files the Manager serves outside the API: last-rendered images and task logs."""

from __future__ import annotations

from .routing import ApiError, RequestContext, Response, Router
from .serialize import LAST_RENDERED_SUFFIXES
from .tasks import task_log_text


def register(router: Router) -> None:
    router.add("GET", "/job-files/{prefix}/{job_id}/{filename}", in_spec=False)(job_file)


def job_file(ctx: RequestContext) -> Response:
    store = ctx.emu.store
    job = store.jobs.get(ctx.params["job_id"])
    if job is None or not job.id.startswith(ctx.params["prefix"]):
        raise ApiError(404, "no such job")
    filename = ctx.params["filename"]
    if filename in LAST_RENDERED_SUFFIXES and job.last_rendered is not None:
        return Response(body=job.last_rendered, content_type="image/png")
    if filename.startswith("task-") and filename.endswith(".txt"):
        task = store.tasks.get(filename[len("task-") : -len(".txt")])
        if task is not None and task.job_id == job.id:
            return Response(body=task_log_text(task), content_type="text/plain")
    raise ApiError(404, "no such file")
