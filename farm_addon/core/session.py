"""One farm session: the settings, the Manager's client and the volume, opened lazily.
No `bpy` module use.

Every core operation takes a :class:`FarmSession`, so the CLI, Blender's operators and
headless scripts call the same functions with the same arguments. Nothing here touches the
network or the disk until first asked.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

from .errors import BadInput
from .flamenco import (
    FlamencoClient,
    IncompatibleManager,
    ManagerTimeout,
    ManagerUnreachable,
)
from .flamenco.errors import FlamencoError
from .fs.volume import Volume
from .settings import Settings


class NoVolume(BadInput):
    """No volume was given and the Manager's shared storage is not a farm volume."""


class ManagerNotUsable(FlamencoError, BadInput):
    """The Manager cannot be reached or is incompatible, found before anything was sent:
    bad input (exit code 2), like a wrong URL."""


class FarmSession:
    """Settings, plus the client and the volume they lead to (each made on first use)."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: FlamencoClient | None = None,
        volume: Volume | None = None,
    ) -> None:
        self.settings = settings
        self._client = client
        self._own_client = client is None
        self._volume = volume
        self._lock = threading.Lock()

    # --- the Manager ---------------------------------------------------------------------

    @property
    def client(self) -> FlamencoClient:
        """The client, after a handshake that refuses an incompatible Manager."""
        with self._lock:
            if self._client is None:
                self._client = FlamencoClient(self.settings.manager_url,
                                              timeout=self.settings.client_timeout)
            client = self._client
        try:
            client.handshake().require_compatible()
        except (ManagerUnreachable, ManagerTimeout, IncompatibleManager) as exc:
            raise ManagerNotUsable(str(exc)) from exc
        return client

    # --- the volume ----------------------------------------------------------------------

    @property
    def volume(self) -> Volume:
        with self._lock:
            if self._volume is not None:
                return self._volume
        volume = self._find_volume()
        with self._lock:
            self._volume = volume
        return volume

    def _find_volume(self) -> Volume:
        if self.settings.volume is not None:
            return Volume.open(self.settings.volume)
        # No volume given: the Manager's shared storage, if it is a farm volume.
        try:
            location = self.client.shared_storage("users").location
        except FlamencoError as exc:  # ManagerError and the rest are FlamencoErrors
            raise NoVolume(
                "No farm volume given, and the Manager could not say where its shared storage "
                f"is ({exc}). Pass --volume PATH or set FARM_VOLUME."
            ) from exc
        path = Path(location)
        if path.name == "jobs":  # Shaman on: the Manager reports <shared>/jobs
            path = path.parent
        try:
            return Volume.open(path)
        except BadInput as exc:
            raise NoVolume(
                f"No farm volume given, and the Manager's shared storage {path} is not one "
                f"({exc}). Pass --volume PATH or set FARM_VOLUME."
            ) from exc

    # --- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._own_client:
            client.close()

    def __enter__(self) -> FarmSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
