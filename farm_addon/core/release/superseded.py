"""The harvest manifest on disk, and delivered files marked superseded. No `bpy` module use.

``dist/<release>/manifest.json`` lists each delivered file with its size, SHA-256, job,
revision, frame and the checksum of the .blend that produced it. The harvest writes it;
``farm replace`` marks the files of a replaced job superseded
(:func:`mark_superseded`), and the next harvest of that job moves them aside into
``dist/<release>/.superseded/<job>/r<N>/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import FarmError
from ..fs.atomic import sweep_temps, write_atomic
from ..fs.mover import DEFAULT_OPS
from ..fs.volume import Volume
from .record import now

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = 1
#: Where the harvest moves superseded files aside, in ``dist/<release>/``.
SUPERSEDED_DIR = ".superseded"


def manifest_path(volume: Volume, release: str) -> Path:
    """Where the manifest of ``release`` is."""
    return volume.dist_dir(release) / MANIFEST_NAME


def load_manifest(volume: Volume, release: str) -> dict[str, Any]:
    """The harvest manifest of ``release`` (an empty one if there is none yet)."""
    path = manifest_path(volume, release)
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {"schema": MANIFEST_SCHEMA, "kind": "farm-harvest-manifest", "release": release,
                "files": [], "superseded": []}
    except (OSError, ValueError) as exc:
        raise FarmError(
            f"The harvest manifest {path} cannot be read ({exc}). Restore it, or move "
            f"dist/{release}/ aside and harvest again."
        ) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise FarmError(f"The harvest manifest {path} is damaged (no list of files).")
    if int(doc.get("schema", 0)) > MANIFEST_SCHEMA:
        raise FarmError(f"The harvest manifest {path} was written by a newer farm.")
    doc.setdefault("superseded", [])
    return doc


def _dump_manifest(doc: dict[str, Any]) -> Iterator[bytes]:
    """Readable and fast: one file per line, produced piece by piece.

    Items are flat objects: a list of them is encoded in one call, and ``},{"`` only occurs
    between items (inside a string a quote is always escaped). New deliveries arrive as
    text (one JSON object) already."""
    head = {k: v for k, v in doc.items() if k not in ("files", "superseded")}
    yield b"{\n"
    for k, v in sorted(head.items()):
        yield f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},\n".encode()
    for key in ("files", "superseded"):
        items = doc.get(key, [])
        yield f'  "{key}": ['.encode()
        for i in range(0, len(items), 4096):
            part = items[i:i + 4096]
            if all(isinstance(x, str) for x in part):
                text = "\n    " + ",\n    ".join(part)
            else:
                text = "\n    " + ",\n    ".join(
                    x if isinstance(x, str) else json.dumps(x, separators=(",", ":"),
                                                            ensure_ascii=False)
                    for x in part)
            yield ((b"," if i else b"") + text.encode("utf-8"))
        yield (b"\n  ]" if items else b"]") + (b",\n" if key == "files" else b"\n")
    yield b"}\n"


def save_manifest(volume: Volume, release: str, doc: dict[str, Any]) -> None:
    """Write ``doc`` as the manifest of ``release``, atomically."""
    doc["updated"] = now().isoformat()
    path = manifest_path(volume, release)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temps(path.parent, locked=True, name=path.name)  # left by a killed run
    write_atomic(volume.check_inside(path), _dump_manifest(doc), DEFAULT_OPS)


def mark_superseded(volume: Volume, release: str, job: str, revision: int | None = None) -> int:
    """Mark the delivered files of ``job`` (of ``revision``, or every one) as superseded; the
    next harvest moves them aside. For ``farm replace``. Returns how many were marked."""
    doc = load_manifest(volume, release)
    count = 0
    for item in doc["files"]:
        if (item.get("job") == job and not item.get("superseded")
                and (revision is None or item.get("revision") == revision)):
            item["superseded"] = True
            count += 1
    if count:
        save_manifest(volume, release, doc)
    return count

