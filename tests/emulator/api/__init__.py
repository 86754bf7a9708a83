"""The emulated Manager API: one module per endpoint group, assembled by :func:`build_router`."""

from __future__ import annotations

from . import files, jobs, meta, shaman, tasks, workers
from .routing import ApiError, RequestContext, Response, Router


def build_router() -> Router:
    router = Router()
    for module in (meta, jobs, tasks, workers, shaman, files):
        module.register(router)
    return router


__all__ = ["ApiError", "RequestContext", "Response", "Router", "build_router"]
