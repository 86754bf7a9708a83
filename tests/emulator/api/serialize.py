"""State objects to API JSON, per Manager version."""

from __future__ import annotations

from typing import Any

from ..state import Job, Store, Task, Worker, WorkerTag, timestamp
from ..versions import ManagerVersion

LAST_RENDERED_SUFFIXES = ["last-rendered.png", "last-rendered-small.png", "last-rendered-tiny.png"]


def job_files_base(job_id: str) -> str:
    """Host-relative URL under which a job's files (last-rendered image, task logs) are served."""
    return f"/job-files/{job_id[:4]}/{job_id}"


def job_json(job: Job, store: Store, version: ManagerVersion) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job.id,
        "name": job.name,
        "type": job.type,
        "priority": job.priority,
        "status": job.status,
        "activity": job.activity,
        "created": timestamp(job.created),
        "updated": timestamp(job.updated),
        "settings": job.settings,
        "metadata": job.metadata,
        "submitter_platform": job.submitter_platform,
    }
    if job.type_etag:
        data["type_etag"] = job.type_etag
    if job.worker_tag:
        data["worker_tag"] = job.worker_tag
    if job.shaman_checkout_id:
        data["storage"] = {"shaman_checkout_id": job.shaman_checkout_id}
    if job.delete_requested_at is not None:
        data["delete_requested_at"] = timestamp(job.delete_requested_at)
    if version.has_step_counts:
        tasks = store.job_tasks(job)
        data["steps_completed"] = sum(t.steps_completed for t in tasks)
        data["steps_total"] = sum(t.steps_total for t in tasks)
    return data


def task_worker_json(store: Store, worker_id: str | None) -> dict[str, str] | None:
    worker = store.workers.get(worker_id or "")
    if worker is None:
        return None
    return {"id": worker.id, "name": worker.name, "address": "127.0.0.1"}


def task_summary_json(task: Task, store: Store, version: ManagerVersion) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": task.id,
        "name": task.name,
        "status": task.status,
        "index_in_job": task.index_in_job,
        "priority": task.priority,
        "task_type": task.task_type,
        "updated": timestamp(task.updated),
    }
    worker = task_worker_json(store, task.worker_id)
    if worker:
        data["worker"] = worker
    if version.has_step_counts:
        data["steps_completed"] = task.steps_completed
        data["steps_total"] = task.steps_total
    return data


def task_json(task: Task, store: Store, version: ManagerVersion) -> dict[str, Any]:
    data = task_summary_json(task, store, version)
    data.update({
        "created": timestamp(task.created),
        "job_id": task.job_id,
        "activity": task.activity,
        "commands": task.commands,
    })
    if task.last_touched is not None:
        data["last_touched"] = timestamp(task.last_touched)
    failed_by = [task_worker_json(store, wid) for wid in task.failed_by_workers]
    data["failed_by_workers"] = [w for w in failed_by if w]
    return data


def tag_json(tag: WorkerTag) -> dict[str, Any]:
    return {"id": tag.id, "name": tag.name, "description": tag.description}


def worker_summary_json(worker: Worker, version: ManagerVersion) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": worker.id,
        "name": worker.name,
        "status": worker.status,
        "last_seen": timestamp(worker.last_seen),
        "version": version.text,
        "can_restart": False,
    }
    if worker.status_change:
        data["status_change"] = worker.status_change
    return data


def worker_json(worker: Worker, store: Store, version: ManagerVersion) -> dict[str, Any]:
    data = worker_summary_json(worker, version)
    data.update({
        "ip_address": "127.0.0.1",
        "platform": worker.platform,
        "supported_task_types": worker.supported_task_types,
    })
    if version.has_worker_tags:
        data["tags"] = [tag_json(store.tags[t]) for t in worker.tag_ids if t in store.tags]
    task = store.tasks.get(worker.current_task or "")
    if task is not None:
        data["task"] = {**task_summary_json(task, store, version), "job_id": task.job_id}
    return data
