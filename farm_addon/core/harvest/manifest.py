"""A harvest's journal carried out and recorded: in the manifest, then in the release record.

No `bpy` module use.

The journal's payload names the job and frame of each delivery; once its moves are done, every
delivered file (but those held back because they changed after their check) is added to
``dist/<release>/manifest.json`` once, the files moved aside become its ``superseded`` entries,
and a :class:`HarvestRecord` is added to the release record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from ..fs.journal import Journal
from ..fs.mover import FileOps, Move
from ..fs.volume import Volume
from ..progress import Progress
from ..release.record import HarvestRecord, ReleaseRecord, now
from ..release.superseded import load_manifest, manifest_path, save_manifest

_ENC = json.encoder.encode_basestring  # str -> JSON string literal (C)


def _deliveries(journal: Journal) -> Iterator[tuple[Move, str, int]]:
    """(move, job, frame) of each frame a harvest journal delivers (after the moves aside)."""
    frames = journal.payload["frames"]
    for m, (job, frame) in zip(journal.moves[len(journal.moves) - len(frames):], frames,
                               strict=True):
        yield m, job, int(frame)


def _apply(doc: dict[str, Any], journal: Journal, held: set[str]) -> int:
    """Add a harvest's deliveries (but the ``held`` back ones, by destination) and moves
    aside to the manifest (idempotent); returns the number of files delivered."""
    payload = journal.payload
    at = payload["at"]
    aside = {(s["was"], s["job"], s["revision"]): s for s in payload.get("superseded", [])}
    kept = []
    for item in doc["files"]:
        moved = aside.get((item["name"], item["job"], item["revision"]))
        if moved is not None:
            doc["superseded"].append({**item, "name": moved["name"], "delivered_as":
                                      item["name"], "superseded_at": at})
        else:
            kept.append(item)
    jobs = {name: (f',"harvested_at":{_ENC(at)},"job":{_ENC(name)},"name":',
                   f',"revision":{int(j["revision"])},"sha256":',
                   f',"source_sha256":{_ENC(j["source_sha256"])}}}')
            for name, j in payload["jobs"].items()}
    prefix = len(payload["dist"]) + 1
    new: set[str] = set()
    files: list[Any] = []
    for m, job, frame in _deliveries(journal):
        if held and m.dst in held:
            continue
        a, b, c = jobs[job]
        name = m.dst[prefix:]
        new.add(name)
        # keys in sorted order, as json.dumps(sort_keys=True) would write them
        files.append(f'{{"frame":{int(frame)}{a}{_ENC(name)}{b}"{m.sha256}","size":'
                     f'{int(m.size)},"source":{_ENC(m.src)}{c}')
    doc["files"] = [i for i in kept if i["name"] not in new] + files
    doc["last_harvest"] = payload["id"]
    return len(files)


def finish_journal(volume: Volume, record: ReleaseRecord, journal: Journal, ops: FileOps,
                   progress: Progress, label: str = "Finishing an interrupted harvest",
                   save: Callable[[ReleaseRecord], None] | None = None
                   ) -> tuple[list[tuple[str, int, str]], int]:
    """Run a harvest journal to its end and record it; returns (job, frame, source) of the
    frames held back because they changed after their check, and how many delivered files
    were hashed again."""
    stats = journal.run(ops, progress, label)
    payload = journal.payload
    doc = load_manifest(volume, record.name)
    held_dst = {m.dst for m in stats.held}
    held = [(job, frame, m.src) for m, job, frame in _deliveries(journal)
            if m.dst in held_dst] if held_dst else []
    files = len(payload["frames"]) - len(held)
    if doc.get("last_harvest") != payload["id"]:  # not applied yet by a killed run
        _apply(doc, journal, held_dst)
        save_manifest(volume, record.name, doc)
    entry = HarvestRecord(
        started_at=payload["at"], finished_at=now(),
        manifest=volume.relpath(manifest_path(volume, record.name)),
        partial=bool(payload.get("partial")),
        jobs={name: int(j["revision"]) for name, j in payload["jobs"].items()}, files=files)
    # Recorded once, also when a killed run had saved it already.
    if not any((h.started_at, h.jobs, h.files) == (entry.started_at, entry.jobs, entry.files)
               for h in record.harvests):
        record.harvests.append(entry)
    if save is not None:
        save(record)  # before the journal goes: a kill now loses nothing
    journal.remove(ops)
    return held, stats.rehashed

