"""Errors of the Flamenco client. No `bpy` module use.

Every failure of a call to Flamenco Manager ends up as a :class:`FlamencoError`, raised
``from`` the transport error when there is one; no ``requests`` exception gets out of the
client. Messages are one or two short sentences: what went wrong, then what to do.
"""

from __future__ import annotations

from ..errors import BadInput, FarmError


class FlamencoError(FarmError):
    """Base of every error the Flamenco client raises."""


class ManagerUnreachable(FlamencoError):
    """No connection to the Manager, or the connection broke before an answer came."""

    def __init__(self, url: str, detail: str = "") -> None:
        self.url = url
        message = detail or (
            f"Cannot reach Flamenco Manager at {url}. "
            "Check the URL and that the Manager is running."
        )
        super().__init__(message)


class ManagerTimeout(FlamencoError):
    """The Manager accepted the connection but did not answer in time."""

    def __init__(self, url: str, seconds: float | None = None) -> None:
        self.url = url
        self.seconds = seconds
        within = f" within {seconds:g} s" if seconds else " in time"
        super().__init__(
            f"Flamenco Manager at {url} did not answer{within}. "
            "It may be overloaded; try again in a moment."
        )


class ManagerError(FlamencoError):
    """The Manager answered with an error status."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        self.status = status
        self.code = code
        self.manager_message = message
        super().__init__(message)


class NotFound(FlamencoError):
    """The job, task, job type or worker does not exist on the Manager."""


class InvalidId(FlamencoError, BadInput):
    """A job or task ID that is not a UUID; the Manager would refuse it."""


class StaleJobType(FlamencoError):
    """The job type changed on the Manager while submitting, even after a refresh."""


class IncompatibleManager(FlamencoError):
    """The Manager's version is not supported, or lacks a feature the call needs."""


class TransitionRefused(FlamencoError, BadInput):
    """A status change or deletion the job's current status does not allow; nothing was sent.

    ``already`` is true when the job is, in effect, already where the action would take it
    (cancelling a canceled job): callers that must be safe to run again can treat it as done.
    """

    def __init__(self, message: str, *, status: str = "", already: bool = False) -> None:
        self.status = status
        self.already = already
        super().__init__(message)


class BadManagerURL(FlamencoError, BadInput):
    """The Manager URL cannot be used (no host, not http or https)."""


class UnexpectedResponse(FlamencoError):
    """The Manager's answer could not be read (not JSON, or not the expected shape)."""


class UnknownWorkerTag(FlamencoError, BadInput):
    """A worker tag name the Manager does not know."""
