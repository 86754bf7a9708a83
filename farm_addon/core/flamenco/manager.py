"""What a Manager is and has: version, configuration, storage, workers. No `bpy` module use.

:class:`ManagerInfo` is the part of the client that asks a Manager about itself: its
version, read once (:meth:`~ManagerInfo.handshake`), its configuration, shared storage and
variables, the farm's status, and its workers and their tags. :class:`.client.FlamencoClient`
builds on it with job types, jobs, status changes and bulk operations.
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import BadInput
from .errors import IncompatibleManager, NotFound, UnexpectedResponse, UnknownWorkerTag
from .handshake import Handshake
from .models import (
    FarmStatusReport,
    FlamencoVersion,
    ManagerConfiguration,
    ManagerVariable,
    ManagerVariables,
    SharedStorageLocation,
    WorkerList,
    WorkerSummary,
    WorkerTag,
    WorkerTagList,
    current_platform,
)
from .transport import ManagerSession, quote

AUDIENCES = ("users", "workers")


class ManagerInfo(ManagerSession):
    """A Manager's own facts, with its version cached after the first handshake."""

    def __init__(self, base_url: str, **options: Any) -> None:
        super().__init__(base_url, **options)
        self._handshake: Handshake | None = None
        self._handshake_lock = threading.Lock()

    # Meta -------------------------------------------------------------------------------

    def handshake(self, *, refresh: bool = False) -> Handshake:
        """The Manager's version and farm's verdict on it; cached after the first call.

        Does not raise for an unsupported version: check ``compatible`` and ``message``,
        or call ``require_compatible()``. Operations that depend on the version do.
        """
        with self._handshake_lock:
            if self._handshake is not None and not refresh:
                return self._handshake
            what = "tell its version"
            try:
                response = self._request("GET", "/api/v3/version", what=what)
            except NotFound as exc:
                raise IncompatibleManager(
                    f"{self.base_url} does not look like a Flamenco Manager: "
                    "it has no /api/v3/version. Check the URL."
                ) from exc
            try:
                version = self._parse(FlamencoVersion, response, what)
            except UnexpectedResponse as exc:
                raise IncompatibleManager(
                    f"{self.base_url} does not look like a Flamenco Manager: "
                    "its version answer is not Flamenco's. Check the URL."
                ) from exc
            self._handshake = Handshake.from_version(version)
            return self._handshake

    def _features(self) -> Handshake:
        """The handshake, raising :class:`IncompatibleManager` for an unsupported Manager."""
        handshake = self.handshake()
        handshake.require_compatible()
        return handshake

    def configuration(self) -> ManagerConfiguration:
        response = self._request("GET", "/api/v3/configuration", what="send its configuration")
        return self._parse(ManagerConfiguration, response, "send its configuration")

    def shared_storage(
        self, audience: str = "users", platform: str | None = None
    ) -> SharedStorageLocation:
        """The shared storage location as ``audience`` on ``platform`` (default: this
        machine's) sees it."""
        path = f"/api/v3/configuration/shared-storage/{self._audience(audience)}/"
        path += quote(platform or current_platform())
        what = "tell its shared storage location"
        return self._parse(SharedStorageLocation, self._request("GET", path, what=what), what)

    def variables(
        self, audience: str = "users", platform: str | None = None
    ) -> dict[str, ManagerVariable]:
        """Variable name -> value and two-way flag, for ``audience`` on ``platform``."""
        path = f"/api/v3/configuration/variables/{self._audience(audience)}/"
        path += quote(platform or current_platform())
        what = "send its variables"
        return self._parse(ManagerVariables, self._request("GET", path, what=what), what).root

    @staticmethod
    def _audience(audience: str) -> str:
        if audience not in AUDIENCES:
            raise BadInput(f"Unknown audience '{audience}'; use 'users' or 'workers'.")
        return audience

    def farm_status(self) -> FarmStatusReport:
        what = "report the farm status"
        response = self._request("GET", "/api/v3/status", what=what)
        return self._parse(FarmStatusReport, response, what)

    # Workers ----------------------------------------------------------------------------

    def workers(self) -> list[WorkerSummary]:
        what = "list its workers"
        response = self._request("GET", "/api/v3/worker-mgt/workers", what=what)
        return self._parse(WorkerList, response, what).workers

    def worker_tags(self) -> list[WorkerTag]:
        self._features().require("has_worker_tags", "Worker tags")
        what = "list its worker tags"
        response = self._request("GET", "/api/v3/worker-mgt/tags", what=what)
        return self._parse(WorkerTagList, response, what).tags

    def worker_tag_id(self, name: str) -> str:
        """The ID of the worker tag called ``name`` (exact, else case-insensitive match);
        an existing tag ID is returned as is. :class:`UnknownWorkerTag` lists the known ones."""
        tags = [t for t in self.worker_tags() if t.id]
        folded = name.casefold()
        for found in (
            [t.id for t in tags if t.name == name],
            [t.id for t in tags if t.name.casefold() == folded],
            [t.id for t in tags if t.id == name],
        ):
            if len(found) == 1 and found[0]:
                return found[0]
        if not tags:
            raise UnknownWorkerTag(
                f"Unknown worker tag '{name}': Flamenco Manager has no worker tags."
            )
        known = ", ".join(sorted(t.name for t in tags))
        raise UnknownWorkerTag(f"Unknown worker tag '{name}'. Known tags: {known}.")
