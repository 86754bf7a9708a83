"""Task endpoints: fetch, log tail, log info, status change."""

from __future__ import annotations

from .. import statemachine
from ..state import Task, is_uuid
from .routing import ApiError, RequestContext, Response, Router
from .serialize import job_files_base, task_json

LOGTAIL_LINES = 20


def register(router: Router) -> None:
    router.add("GET", "/api/v3/tasks/{task_id}")(fetch_task)
    router.add("GET", "/api/v3/tasks/{task_id}/logtail")(fetch_task_log_tail)
    router.add("GET", "/api/v3/tasks/{task_id}/log")(fetch_task_log_info)
    router.add("POST", "/api/v3/tasks/{task_id}/setstatus")(set_task_status)


def get_task(ctx: RequestContext) -> Task:
    task_id = ctx.params["task_id"]
    if not is_uuid(task_id):
        raise ApiError(400, "task ID should be a UUID")
    task = ctx.emu.store.tasks.get(task_id)
    if task is None:
        raise ApiError(404, "no such task")
    return task


def task_log_text(task: Task) -> str:
    return "".join(line + "\n" for line in task.log)


def task_log_url(task: Task) -> str:
    return f"{job_files_base(task.job_id)}/task-{task.id}.txt"


def fetch_task(ctx: RequestContext) -> Response:
    return Response(body=task_json(get_task(ctx), ctx.emu.store, ctx.emu.manager_version))


def fetch_task_log_tail(ctx: RequestContext) -> Response:
    task = get_task(ctx)
    if not task.log:
        return Response(204)
    tail = "".join(line + "\n" for line in task.log[-LOGTAIL_LINES:])
    return Response(body=tail, content_type="text/plain")


def fetch_task_log_info(ctx: RequestContext) -> Response:
    task = get_task(ctx)
    if not task.log:
        return Response(204)
    return Response(body={
        "task_id": task.id,
        "job_id": task.job_id,
        "url": task_log_url(task),
        "size": len(task_log_text(task).encode()),
    })


def set_task_status(ctx: RequestContext) -> Response:
    task = get_task(ctx)
    body = ctx.json_object()
    reason = str(body.get("reason", ""))
    statemachine.set_task_status(ctx.emu.store, task, str(body["status"]), reason)
    return Response(204)
