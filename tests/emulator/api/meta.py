"""Meta endpoints: version, configuration, variables, shared storage, farm status."""

from __future__ import annotations

import os
from pathlib import Path

from ..state import Store
from .routing import ApiError, RequestContext, Response, Router

AUDIENCES = ("users", "workers")


def register(router: Router) -> None:
    router.add("GET", "/api/v3/version")(get_version)
    router.add("GET", "/api/v3/configuration")(get_configuration)
    router.add("GET", "/api/v3/configuration/variables/{audience}/{platform}")(get_variables)
    router.add("GET", "/api/v3/configuration/shared-storage/{audience}/{platform}")(
        get_shared_storage)
    router.add("POST", "/api/v3/configuration/check/shared-storage")(check_shared_storage)
    router.add("GET", "/api/v3/status")(get_farm_status)


def get_version(ctx: RequestContext) -> Response:
    version = ctx.emu.manager_version
    return Response(body={
        "version": version.text,
        "shortversion": version.shortversion,
        "name": ctx.emu.name,
        "git": f"v{version.text}-emulator",
    })


def get_configuration(ctx: RequestContext) -> Response:
    return Response(body={
        "storageLocation": str(ctx.emu.storage),
        "shamanEnabled": ctx.emu.shaman,
        "isFirstRun": False,
    })


def _audience(ctx: RequestContext) -> str:
    audience = ctx.params["audience"]
    if audience not in AUDIENCES:
        raise ApiError(400, f"unknown audience {audience!r}")
    return audience


def get_variables(ctx: RequestContext) -> Response:
    _audience(ctx)
    return Response(body=ctx.emu.variables.for_platform(ctx.params["platform"]))


def get_shared_storage(ctx: RequestContext) -> Response:
    audience = _audience(ctx)
    platform = ctx.params["platform"]
    location = str(ctx.emu.jobs_location)
    return Response(body={
        "location": ctx.emu.variables.storage_for(location, platform),
        "audience": audience,
        "platform": platform,
        "shamanEnabled": ctx.emu.shaman,
    })


def check_shared_storage(ctx: RequestContext) -> Response:
    path = str(ctx.json_object().get("path", ""))
    target = Path(path)
    if not path or not target.is_absolute():
        usable, cause = False, "An absolute path is required."
    elif not target.is_dir():
        usable, cause = False, "This directory does not exist."
    elif not os.access(target, os.W_OK):
        usable, cause = False, "This directory is not writable."
    else:
        usable, cause = True, "Directory checked successfully"
    return Response(body={"path": path, "is_usable": usable, "cause": cause})


def farm_status(store: Store) -> str:
    """active / idle / waiting / asleep / inoperative, from workers and jobs."""
    statuses = [w.status for w in store.workers.values()]
    awake = [s for s in statuses if s == "awake"]
    asleep = [s for s in statuses if s == "asleep"]
    has_work = any(j.status in ("active", "queued") and j.delete_requested_at is None
                   for j in store.jobs.values())
    if not awake and not asleep:
        return "inoperative"
    if not awake:
        return "waiting" if has_work else "asleep"
    return "active" if has_work else "idle"


def get_farm_status(ctx: RequestContext) -> Response:
    status = ctx.emu.farm_status_override or farm_status(ctx.emu.store)
    return Response(body={"status": status})
