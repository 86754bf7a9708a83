"""Job and task statuses, and the job status changes a client may ask for. No `bpy` module use.

The Manager does not check transitions: it accepts any status sent to ``setstatus``, and
setting an end state directly (``canceled``, ``paused``...) leaves the tasks running. The
client therefore only ever sends ``cancel-requested``, ``pause-requested`` or ``requeueing``,
and first checks the job's current status against the table the official web UI uses.
"""

from __future__ import annotations

import enum

from .errors import TransitionRefused


class JobStatus(enum.StrEnum):
    ACTIVE = "active"
    CANCELED = "canceled"
    COMPLETED = "completed"
    FAILED = "failed"
    PAUSED = "paused"
    PAUSE_REQUESTED = "pause-requested"
    QUEUED = "queued"
    CANCEL_REQUESTED = "cancel-requested"
    REQUEUEING = "requeueing"
    UNDER_CONSTRUCTION = "under-construction"


class TaskStatus(enum.StrEnum):
    ACTIVE = "active"
    CANCELED = "canceled"
    COMPLETED = "completed"
    FAILED = "failed"
    QUEUED = "queued"
    SOFT_FAILED = "soft-failed"
    PAUSED = "paused"


class JobAction(enum.StrEnum):
    """What a user can do to a job."""

    CANCEL = "cancel"
    PAUSE = "pause"
    REQUEUE = "requeue"
    DELETE = "delete"


S = JobStatus

#: The status to send for each action; ``None`` means ``DELETE /api/v3/jobs/{id}``.
REQUEST_STATUS: dict[JobAction, JobStatus | None] = {
    JobAction.CANCEL: S.CANCEL_REQUESTED,
    JobAction.PAUSE: S.PAUSE_REQUESTED,
    JobAction.REQUEUE: S.REQUEUEING,
    JobAction.DELETE: None,
}

#: The statuses each action is allowed from (the official web UI's rules).
ALLOWED_FROM: dict[JobAction, tuple[JobStatus, ...]] = {
    JobAction.CANCEL: (S.ACTIVE, S.FAILED, S.PAUSED, S.PAUSE_REQUESTED, S.QUEUED),
    JobAction.PAUSE: (S.ACTIVE, S.CANCELED, S.QUEUED),
    JobAction.REQUEUE: (S.CANCELED, S.COMPLETED, S.FAILED, S.PAUSED),
    JobAction.DELETE: (S.CANCELED, S.COMPLETED, S.FAILED, S.PAUSED, S.QUEUED),
}

#: Statuses a job may be asked to cancel from, and deleted from.
CANCELLABLE: frozenset[str] = frozenset(ALLOWED_FROM[JobAction.CANCEL])
DELETABLE: frozenset[str] = frozenset(ALLOWED_FROM[JobAction.DELETE])
#: Statuses in which a job does no more work.
FINISHED: frozenset[str] = frozenset({S.COMPLETED, S.FAILED, S.CANCELED})

# Statuses in which the action has, in effect, already happened: "it is already ...".
_ALREADY: dict[JobAction, tuple[JobStatus, ...]] = {
    JobAction.CANCEL: (S.CANCELED, S.CANCEL_REQUESTED, S.COMPLETED),
    JobAction.PAUSE: (S.PAUSED, S.PAUSE_REQUESTED, S.COMPLETED),
    JobAction.REQUEUE: (S.QUEUED, S.REQUEUEING),
    JobAction.DELETE: (),
}

_PARTICIPLE = {
    JobAction.CANCEL: "cancelled",
    JobAction.PAUSE: "paused",
    JobAction.REQUEUE: "requeued",
    JobAction.DELETE: "deleted",
}

#: Statuses in which a job still has work to do or is about to.
ACTIVE_STATUSES = frozenset(
    {S.ACTIVE, S.QUEUED, S.REQUEUEING, S.UNDER_CONSTRUCTION, S.PAUSE_REQUESTED,
     S.CANCEL_REQUESTED}
)
#: Statuses in which nothing happens on the job until someone acts.
SETTLED_STATUSES = frozenset({S.CANCELED, S.COMPLETED, S.FAILED, S.PAUSED})


def is_allowed(action: JobAction | str, status: str) -> bool:
    """Whether ``action`` may be applied to a job in ``status``."""
    return status in ALLOWED_FROM[JobAction(action)]


def _or_list(items: tuple[JobStatus, ...]) -> str:
    names = [str(s) for s in items]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def refusal_message(action: JobAction | str, status: str, job: str) -> str:
    """The message shown when ``action`` is refused for a job in ``status``."""
    action = JobAction(action)
    already = "already " if status in _ALREADY[action] else ""
    return (
        f"Cannot {action.value} job '{job}': it is {already}{status}. "
        f"Only {_or_list(ALLOWED_FROM[action])} jobs can be {_PARTICIPLE[action]}."
    )


def check_transition(action: JobAction | str, status: str, job: str) -> None:
    """Raise :class:`TransitionRefused` unless ``action`` is allowed from ``status``."""
    if not is_allowed(action, status):
        already = status in _ALREADY[JobAction(action)]
        raise TransitionRefused(
            refusal_message(action, status, job), status=status, already=already
        )
