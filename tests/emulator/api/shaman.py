"""The Shaman file store: content-addressed uploads (SHA-256) and symlinked checkouts.

Files live in ``<storage>/file-store/stored/<sha[:2]>/<sha[2:]>/<size>.blob``; checkouts are
folders of symlinks under ``<storage>/jobs/<checkoutPath>``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path, PurePosixPath
from typing import Any

from .routing import ApiError, RequestContext, Response, Router


class ShamanStore:
    """The emulator's Shaman storage on disk, plus which files are being uploaded now."""

    def __init__(self, storage: Path) -> None:
        self.storage = storage
        self.uploading: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    @property
    def file_store(self) -> Path:
        return self.storage / "file-store"

    @property
    def checkout_root(self) -> Path:
        return self.storage / "jobs"

    def blob_path(self, sha: str, size: int) -> Path:
        return self.file_store / "stored" / sha[:2] / sha[2:] / f"{size}.blob"

    def status(self, sha: str, size: int) -> str:
        if self.blob_path(sha, size).is_file():
            return "stored"
        with self._lock:
            return "uploading" if (sha, size) in self.uploading else "unknown"

    def store(self, sha: str, size: int, data: bytes, can_defer: bool) -> int:
        """Store an upload; return the HTTP status (204, 208, 417 raises, 425)."""
        status = self.status(sha, size)
        if status == "stored":
            return 208
        if status == "uploading" and can_defer:
            return 425
        if len(data) != size:
            raise ApiError(417, f"file size mismatch: header says {size}, got {len(data)} bytes")
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha:
            raise ApiError(417, f"checksum mismatch: header says {sha}, got {actual}")
        target = self.blob_path(sha, size)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{threading.get_ident()}.part")
        partial.write_bytes(data)
        os.replace(partial, target)
        return 204

    def checkout(self, files: list[dict[str, Any]], checkout_path: str) -> str:
        relative = PurePosixPath(checkout_path.replace("\\", "/"))
        if not checkout_path or relative.is_absolute() or ".." in relative.parts:
            raise ApiError(400, f"invalid checkout path {checkout_path!r}")
        missing = [f["path"] for f in files
                   if self.status(f["sha"], int(f["size"])) != "stored"]
        if missing:
            raise ApiError(424, f"files missing from the Shaman store: {', '.join(missing)}")
        target = self.checkout_root / relative
        if target.exists():
            raise ApiError(409, f"checkout {checkout_path!r} already exists")
        for spec in files:
            file_path = PurePosixPath(str(spec["path"]).replace("\\", "/"))
            if file_path.is_absolute() or ".." in file_path.parts:
                raise ApiError(400, f"invalid file path {spec['path']!r}")
            link = target / file_path
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(self.blob_path(spec["sha"], int(spec["size"])))
        target.mkdir(parents=True, exist_ok=True)
        return str(relative)


def register(router: Router) -> None:
    router.add("POST", "/api/v3/shaman/checkout/requirements")(requirements)
    router.add("POST", "/api/v3/shaman/checkout/create")(create_checkout)
    router.add("GET", "/api/v3/shaman/files/{checksum}/{filesize}")(file_status)
    router.add("POST", "/api/v3/shaman/files/{checksum}/{filesize}")(store_file)


def _shaman(ctx: RequestContext) -> ShamanStore:
    if not ctx.emu.shaman:
        raise ApiError(503, "shaman server not active")
    return ctx.emu.shaman_store


def _size(ctx: RequestContext) -> int:
    try:
        return int(ctx.params["filesize"])
    except ValueError:
        raise ApiError(400, "file size should be an integer") from None


def requirements(ctx: RequestContext) -> Response:
    shaman = _shaman(ctx)
    unknown = []
    for spec in ctx.json_object().get("files") or []:
        status = shaman.status(str(spec["sha"]), int(spec["size"]))
        if status != "stored":
            unknown.append({"sha": spec["sha"], "size": spec["size"],
                            "path": spec.get("path", ""), "status": status})
    return Response(body={"files": unknown})


def file_status(ctx: RequestContext) -> Response:
    shaman = _shaman(ctx)
    return Response(body={"status": shaman.status(ctx.params["checksum"], _size(ctx))})


def store_file(ctx: RequestContext) -> Response:
    shaman = _shaman(ctx)
    can_defer = ctx.header("X-Shaman-Can-Defer-Upload").lower() in ("true", "1")
    status = shaman.store(ctx.params["checksum"], _size(ctx), ctx.raw_body, can_defer)
    return Response(status)


def create_checkout(ctx: RequestContext) -> Response:
    shaman = _shaman(ctx)
    body = ctx.json_object()
    path = shaman.checkout(list(body.get("files") or []), str(body.get("checkoutPath", "")))
    return Response(body={"checkoutPath": path})
