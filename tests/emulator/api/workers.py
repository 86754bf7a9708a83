"""Worker management endpoints: workers, their status and tags, worker tags."""

from __future__ import annotations

from ..state import Worker, WorkerTag, is_uuid, new_uuid
from ..versions import ManagerVersion
from .routing import ApiError, RequestContext, Response, Router
from .serialize import tag_json, worker_json, worker_summary_json


def register(router: Router) -> None:
    def tags(v: ManagerVersion) -> bool:
        return v.has_worker_tags

    router.add("GET", "/api/v3/worker-mgt/workers")(fetch_workers)
    router.add("GET", "/api/v3/worker-mgt/workers/{worker_id}")(fetch_worker)
    router.add("DELETE", "/api/v3/worker-mgt/workers/{worker_id}")(delete_worker)
    router.add("POST", "/api/v3/worker-mgt/workers/{worker_id}/setstatus")(set_worker_status)
    router.add("POST", "/api/v3/worker-mgt/workers/{worker_id}/settags", tags)(set_worker_tags)
    router.add("GET", "/api/v3/worker-mgt/workers/{worker_id}/sleep-schedule")(get_sleep)
    router.add("POST", "/api/v3/worker-mgt/workers/{worker_id}/sleep-schedule")(set_sleep)
    router.add("GET", "/api/v3/worker-mgt/tags", tags)(fetch_tags)
    router.add("POST", "/api/v3/worker-mgt/tags", tags)(create_tag)
    router.add("GET", "/api/v3/worker-mgt/tag/{tag_id}", tags)(fetch_tag)
    router.add("PUT", "/api/v3/worker-mgt/tag/{tag_id}", tags)(update_tag)
    router.add("DELETE", "/api/v3/worker-mgt/tag/{tag_id}", tags)(delete_tag)


def get_worker(ctx: RequestContext) -> Worker:
    worker_id = ctx.params["worker_id"]
    if not is_uuid(worker_id):
        raise ApiError(400, "worker ID should be a UUID")
    worker = ctx.emu.store.workers.get(worker_id)
    if worker is None:
        raise ApiError(404, "no such worker")
    return worker


def get_tag(ctx: RequestContext) -> WorkerTag:
    tag_id = ctx.params["tag_id"]
    if not is_uuid(tag_id):
        raise ApiError(400, "tag ID should be a UUID")
    tag = ctx.emu.store.tags.get(tag_id)
    if tag is None:
        raise ApiError(404, "no such worker tag")
    return tag


def fetch_workers(ctx: RequestContext) -> Response:
    version = ctx.emu.manager_version
    workers = [worker_summary_json(w, version) for w in ctx.emu.store.workers.values()]
    return Response(body={"workers": workers})


def fetch_worker(ctx: RequestContext) -> Response:
    return Response(body=worker_json(get_worker(ctx), ctx.emu.store, ctx.emu.manager_version))


def delete_worker(ctx: RequestContext) -> Response:
    worker = get_worker(ctx)
    del ctx.emu.store.workers[worker.id]
    return Response(204)


def set_worker_status(ctx: RequestContext) -> Response:
    """The emulated workers obey at once (``is_lazy`` or not)."""
    worker = get_worker(ctx)
    worker.status = str(ctx.json_object()["status"])
    worker.status_change = None
    return Response(204)


def set_worker_tags(ctx: RequestContext) -> Response:
    worker = get_worker(ctx)
    tag_ids = [str(t) for t in ctx.json_object()["tag_ids"]]
    unknown = [t for t in tag_ids if t not in ctx.emu.store.tags]
    if unknown:
        raise ApiError(400, f"unknown worker tags: {', '.join(unknown)}")
    worker.tag_ids = tag_ids
    return Response(204)


def get_sleep(ctx: RequestContext) -> Response:
    worker = get_worker(ctx)
    if worker.sleep_schedule is None:
        return Response(204)
    return Response(body=worker.sleep_schedule)


def set_sleep(ctx: RequestContext) -> Response:
    get_worker(ctx).sleep_schedule = ctx.json_object()
    return Response(204)


def fetch_tags(ctx: RequestContext) -> Response:
    return Response(body={"tags": [tag_json(t) for t in ctx.emu.store.tags.values()]})


def create_tag(ctx: RequestContext) -> Response:
    body = ctx.json_object()
    store = ctx.emu.store
    name = str(body["name"])
    if store.find_tag(name) is not None:
        raise ApiError(409, f"a worker tag named {name!r} already exists")
    tag_id = str(body.get("id") or new_uuid())
    if not is_uuid(tag_id):
        raise ApiError(400, "tag ID should be a UUID")
    tag = WorkerTag(tag_id, name, str(body.get("description", "")))
    store.tags[tag.id] = tag
    return Response(body=tag_json(tag))


def fetch_tag(ctx: RequestContext) -> Response:
    return Response(body=tag_json(get_tag(ctx)))


def update_tag(ctx: RequestContext) -> Response:
    tag = get_tag(ctx)
    body = ctx.json_object()
    tag.name = str(body["name"])
    if "description" in body:
        tag.description = str(body["description"])
    return Response(204)


def delete_tag(ctx: RequestContext) -> Response:
    tag = get_tag(ctx)
    store = ctx.emu.store
    del store.tags[tag.id]
    for worker in store.workers.values():
        if tag.id in worker.tag_ids:
            worker.tag_ids.remove(tag.id)
    for job in store.jobs.values():
        if job.worker_tag == tag.id:
            job.worker_tag = None
    return Response(204)
