"""The job and task state machine of the Manager (NOTES.md "Job and task life cycle").

The Manager does not check whether a requested job status change makes sense; it applies it and
then updates the tasks: ``cancel-requested`` and ``failed`` cancel the unfinished tasks,
``pause-requested`` pauses queued ones, ``requeueing`` requeues. Task status changes (by workers or
the API) roll up into the job status. Call these with ``store.lock`` held.
"""

from __future__ import annotations

from .state import Job, Store, Task

FAIL_RATIO = 0.10  # this share of failed tasks fails the job


def _set_job(job: Job, status: str, reason: str) -> None:
    job.status = status
    job.activity = f'Changed to status "{status}": {reason}'
    job.touch()


def _set_task(task: Task, status: str, activity: str) -> None:
    if task.status == status:
        return
    task.status = status
    task.activity = activity
    task.touch()
    task.add_log(f"task changed status to {status}: {activity}")


def set_job_status(store: Store, job: Job, status: str, reason: str) -> None:
    """Apply a job status change and what follows from it for the tasks."""
    old = job.status
    _set_job(job, status, reason)
    tasks = store.job_tasks(job)
    if status in ("cancel-requested", "failed"):
        why = f'Manager cancelled this task because the job got status "{status}".'
        for task in tasks:
            if task.status in ("active", "queued", "soft-failed", "paused"):
                _set_task(task, "canceled", why)
        if status == "cancel-requested":
            _set_job(job, "canceled", "Job was canceled")
    elif status == "pause-requested":
        for task in tasks:
            if task.status in ("queued", "soft-failed"):
                _set_task(task, "paused", "Manager paused this task because the job was paused.")
        if not any(t.status == "active" for t in tasks):
            _set_job(job, "paused", "Job was paused")
    elif status == "requeueing":
        requeue = (None if old == "completed"
                   else ("canceled", "failed", "paused", "soft-failed"))
        for task in tasks:
            if requeue is None or task.status in requeue:
                _set_task(task, "queued", "Requeued because the job was requeued.")
                task.steps_completed = 0
                task.failed_by_workers.clear()
        _set_job(job, "queued", "Queued because of requeueing")
    elif status == "queued" and tasks and all(t.status == "completed" for t in tasks):
        _set_job(job, "completed", "All tasks completed")


def set_task_status(store: Store, task: Task, status: str, activity: str) -> None:
    """Change a task's status and roll the change up into its job's status."""
    _set_task(task, status, activity)
    job = store.jobs.get(task.job_id)
    if job is None:
        return
    tasks = store.job_tasks(job)
    any_active = any(t.status == "active" for t in tasks)

    if status == "active":
        if job.status != "active":
            _set_job(job, "active", "a task started")
        return
    if status == "queued":
        if job.status in ("completed", "canceled", "failed", "paused"):
            _set_job(job, "queued", "a task was requeued")
        return
    if status == "failed" and job.status not in ("failed", "canceled", "cancel-requested"):
        failed = sum(1 for t in tasks if t.status == "failed")
        if failed >= FAIL_RATIO * len(tasks):
            set_job_status(store, job, "failed",
                           f"{failed} of {len(tasks)} tasks failed")
            return
    if all(t.status == "completed" for t in tasks):
        if job.status != "completed":
            _set_job(job, "completed", "all tasks completed")
    elif job.status == "pause-requested" and not any_active:
        _set_job(job, "paused", "Job was paused")
    elif job.status == "cancel-requested" and not any_active:
        _set_job(job, "canceled", "Job was canceled")
