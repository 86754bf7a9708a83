"""The release record: what farm intended for a release, on the volume. No `bpy` module use.

``releases/<release>/release.json`` is human-readable JSON (pydantic models, indented, schema
versioned). It holds where the release was planned from, and per job: its source and the
source's checksum, the packed blend and dependencies, frames, chunk size, priority, output
folder, metadata, and one entry per revision with its Flamenco job id. Harvests append to
``harvests``. Paths are volume-relative POSIX paths except the sources, which are kept as
the planning machine gave them (plus their volume-relative path when inside the volume).

Writes go through :meth:`RecordStore.transaction`: it holds ``releases/<release>/.lock``
(so two farm processes, or the CLI and Blender, never interleave), loads the record, lets
the caller change it, and writes it atomically only if the block ends without an exception.
A record written by a newer farm (a higher ``schema_version``) is refused, never rewritten.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import json
import os
import socket
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..blend.stamps import FileStamp, Fingerprint, PackedFile, PackResult
from ..errors import BadInput, FarmError
from ..frames import parse_intervals
from ..fs.atomic import FileLock, atomic_write_text, sweep_temps
from ..fs.names import casefold_collisions, fold, validate_name
from ..fs.volume import Volume

SCHEMA_VERSION: Final = 1
DEFAULT_JOB_TYPE = "simple-blender-render"

RevisionState = Literal["planned", "submitting", "submitted", "superseded"]


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class UnknownRelease(BadInput):
    """No release of that name on the volume."""


class UnknownJob(BadInput):
    """No job of that name in the release (or on the volume)."""


class NewerRecord(FarmError):
    """The record was written by a newer farm."""


class DamagedRecord(FarmError):
    """The record cannot be read."""


# Every save re-validates the whole record: a release of 10,000 jobs checks 10,000 names and
# frame ranges each time. The checks are pure functions of the text, so their verdicts are
# kept (bounded): a save then costs pydantic's own work, not ours again.
@functools.lru_cache(maxsize=1 << 16)
def _name_problem(value: str, what: str) -> str | None:
    try:
        validate_name(value, what)
    except BadInput as exc:
        return str(exc)
    return None


@functools.lru_cache(maxsize=1 << 12)
def _frames_problem(value: str) -> str | None:
    try:
        parse_intervals(value)
    except BadInput as exc:
        return str(exc)
    return None


def _name(value: str, what: str) -> str:
    problem = _name_problem(value, what)
    if problem is not None:  # pydantic reports ValueErrors as validation errors
        raise ValueError(problem)
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Revision(_Model):
    """One submission (planned or done) of a job; a replace adds a revision."""

    number: int = Field(ge=1)
    state: RevisionState = "planned"
    job_id: str | None = None  # Flamenco's job id, once submitted
    created_at: datetime = Field(default_factory=now)
    submitted_at: datetime | None = None
    source_sha256: str
    superseded_dir: str | None = None  # volume-relative folder its frames were moved to


class JobRecord(_Model):
    """One job of the release, at its current revision."""

    name: str
    source: str  # as given on the planning machine (absolute)
    source_in_volume: str | None = None  # volume-relative, when the source is on the volume
    source_sha256: str
    source_size: int | None = None
    source_mtime_ns: int | None = None
    stored_blend: str  # volume-relative: releases/<release>/store/<job>.blend
    dependencies: list[PackedFile] = Field(default_factory=list)
    frames: str
    chunk_size: int = Field(default=1, ge=1)
    priority: int = Field(default=50, ge=0, le=100)
    worker_tag: str | None = None
    job_type: str = DEFAULT_JOB_TYPE
    scene: str
    output_format: str  # Flamenco's `format`, like PNG or OPEN_EXR
    file_extension: str  # like .png
    fps: float | None = None
    has_previews: bool = False
    output_dir: str  # volume-relative: releases/<release>/out/<job>/
    metadata: dict[str, str] = Field(default_factory=dict)
    revision: int = Field(default=1, ge=1)
    revisions: list[Revision]  # made from `revision` and `source_sha256` when not given

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _name(value, "job name")

    @field_validator("frames")
    @classmethod
    def _valid_frames(cls, value: str) -> str:
        problem = _frames_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="before")
    @classmethod
    def _first_revision(cls, data: object) -> object:
        if isinstance(data, dict) and not data.get("revisions") and "source_sha256" in data:
            data = {**data, "revisions": [
                {"number": data.get("revision", 1), "source_sha256": data["source_sha256"]}
            ]}
        return data

    @model_validator(mode="after")
    def _revisions_agree(self) -> JobRecord:
        numbers = [revision.number for revision in self.revisions]
        if not numbers or numbers != sorted(set(numbers)) or numbers[-1] != self.revision:
            raise ValueError(
                f"job {self.name!r}: revision {self.revision} does not match its revisions "
                f"{numbers}"
            )
        return self

    @property
    def current(self) -> Revision:
        """The revision the job is at."""
        return self.revisions[-1]

    @property
    def job_id(self) -> str | None:
        return self.current.job_id

    @property
    def superseded_dirs(self) -> list[str]:
        return [rev.superseded_dir for rev in self.revisions if rev.superseded_dir]

    def fingerprint(self) -> Fingerprint:
        """The source's fingerprint when packed, for :func:`packing.changed_since`."""
        blend = FileStamp(
            path=self.source, size=self.source_size, mtime_ns=self.source_mtime_ns,
            sha256=self.source_sha256,
        )
        return Fingerprint(blend=blend, dependencies=[dep.stamp() for dep in self.dependencies])

    def record_pack(self, packed: PackResult) -> None:
        """Take the source's checksum and stamp, the dependencies and the stored blend from
        a fresh pack of this job (for the current revision)."""
        blend = packed.fingerprint.blend
        self.source_sha256 = blend.sha256 or self.source_sha256
        self.source_size = blend.size
        self.source_mtime_ns = blend.mtime_ns
        self.dependencies = list(packed.dependencies)
        self.stored_blend = packed.stored_blend_rel
        self.current.source_sha256 = self.source_sha256

    def new_revision(self, source_sha256: str) -> Revision:
        """Start the next revision (the caller marks the previous one superseded)."""
        revision = Revision(number=self.revision + 1, source_sha256=source_sha256)
        self.revisions.append(revision)
        self.revision = revision.number
        self.source_sha256 = source_sha256
        return revision


class PlannedFrom(_Model):
    """Where and how the release was planned."""

    host: str = ""
    user: str = ""
    cwd: str = ""
    sources: list[str] = Field(default_factory=list)  # as given on the command line
    plan_file: str | None = None

    @classmethod
    def here(cls, sources: list[str] | None = None, plan_file: str | None = None) -> PlannedFrom:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = ""
        return cls(host=socket.gethostname(), user=user, cwd=os.getcwd(),
                   sources=list(sources or []), plan_file=plan_file)


class HarvestRecord(_Model):
    """One harvest of the release into dist/."""

    started_at: datetime = Field(default_factory=now)
    finished_at: datetime | None = None
    manifest: str | None = None  # volume-relative
    partial: bool = False
    jobs: dict[str, int] = Field(default_factory=dict)  # job name -> revision harvested
    files: int = 0


class ReleaseRecord(_Model):
    """Everything farm planned for one release."""

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str
    volume_id: str = ""
    created: datetime = Field(default_factory=now)
    updated: datetime = Field(default_factory=now)
    planned_from: PlannedFrom = Field(default_factory=PlannedFrom)
    naming_template: str | None = None  # harvest renaming
    frame_data: str | None = None  # per-frame data file for naming
    renamer: str | None = None  # Python renamer file for naming
    jobs: list[JobRecord] = Field(default_factory=list)
    harvests: list[HarvestRecord] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _name(value, "release name")

    @model_validator(mode="after")
    def _unique_jobs(self) -> ReleaseRecord:
        clashes = casefold_collisions(job.name for job in self.jobs)
        if clashes:
            raise ValueError(f"jobs with the same name: {clashes}")
        return self

    @property
    def job_names(self) -> list[str]:
        return [job.name for job in self.jobs]

    def find(self, name: str) -> JobRecord | None:
        return next((job for job in self.jobs if job.name == name), None)

    def job(self, name: str) -> JobRecord:
        """The job called ``name``; UnknownJob listing the release's jobs if none."""
        found = self.find(name)
        if found is None:
            raise UnknownJob(
                f"The release {self.name!r} has no job {name!r}. Its jobs: "
                + (", ".join(self.job_names) or "none") + "."
            )
        return found

    def add_job(self, job: JobRecord) -> JobRecord:
        """Append ``job``; BadInput if its name is taken (also by a different case)."""
        self.add_jobs([job])
        return job

    def add_jobs(self, jobs: Iterable[JobRecord]) -> None:
        """Append ``jobs`` in order; BadInput (and none appended) if a name is taken, also by
        a different case, by a job of the record or an earlier one of ``jobs``. One pass over
        the record, however many jobs are added."""
        taken = {fold(other.name): other.name for other in self.jobs}
        adding = list(jobs)
        for job in adding:
            key = fold(job.name)
            clash = taken.get(key)
            if clash == job.name:
                raise BadInput(f"The release {self.name!r} already has a job {clash!r}.")
            if clash is not None:
                raise BadInput(
                    f"The release {self.name!r} already has a job {clash!r}; {job.name!r} "
                    "would be the same file on Windows and macOS. Choose another name."
                )
            taken[key] = job.name
        self.jobs.extend(adding)


class RecordStore:
    """Reads and writes the release records of one volume."""

    def __init__(self, volume: Volume, lock_timeout: float = 10.0) -> None:
        self.volume = volume
        self.lock_timeout = lock_timeout

    def exists(self, release: str) -> bool:
        return self.volume.record_path(release).is_file()

    def load(self, release: str) -> ReleaseRecord:
        """The record of ``release``; UnknownRelease (listing the known ones) if none."""
        path = self.volume.record_path(release)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise self._unknown(release) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DamagedRecord(f"{path} cannot be read: {exc}.") from exc
        return parse_record(text, path)

    def _unknown(self, release: str) -> UnknownRelease:
        known = self.volume.list_releases()
        hint = (f"Releases on this volume: {', '.join(known)}." if known else
                "There are no releases on this volume yet; plan one with "
                "`farm plan release NAME SOURCES...`.")
        return UnknownRelease(f"There is no release {release!r}. {hint}")

    def save(self, record: ReleaseRecord) -> None:
        """Write ``record`` atomically. Callers should hold the lock (use transaction)."""
        # Checked as it will be read: the very text written parses back as a valid record
        # (list changes like ``jobs.append`` bypass the models' assignment checks).
        text = record.model_dump_json(indent=2) + "\n"
        ReleaseRecord.model_validate_json(text)
        atomic_write_text(self.volume.check_inside(self.volume.record_path(record.name)), text)

    @contextlib.contextmanager
    def transaction(
        self, release: str, create: bool = False, what: str = ""
    ) -> Iterator[ReleaseRecord]:
        """Lock, load (or, with ``create``, start) the record, yield it, write it on success.

        Nothing is written if the block raises. With ``create`` and no record yet, a new
        empty record is yielded (check ``record.jobs`` to see whether it is new); if the
        block then raises, the release folder made for it is removed again. ``release`` is
        the name the verb checked at its entry (the volume's paths still refuse a bad one).
        """
        folder = self.volume.check_inside(self.volume.release_dir(release))
        made_folder = False
        if not folder.is_dir():
            if not create:
                raise self._unknown(release)
            folder.mkdir(parents=True)
            made_folder = True
        try:
            with FileLock(self.volume.lock_path(release), self.lock_timeout,
                          what or f"changing release {release}"):
                sweep_temps(folder, locked=True)  # what a killed writer of the record left
                if self.exists(release):
                    record = self.load(release)
                elif create:
                    record = ReleaseRecord(name=release, volume_id=self.volume.id)
                else:
                    raise self._unknown(release)
                yield record
                record.updated = now()
                self.save(record)
        except BaseException:
            if made_folder and not self.exists(release):
                self.volume.lock_path(release).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    folder.rmdir()
            raise


def parse_record(text: str, path: Path | str = "release.json") -> ReleaseRecord:
    """A record from its JSON text; NewerRecord or DamagedRecord with a clear message."""
    try:  # the common case, in one pass (a release of 10,000 jobs is an 11 MB record)
        return ReleaseRecord.model_validate_json(text)
    except ValidationError:
        pass  # read it again the slow way, for the message that says what is wrong
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DamagedRecord(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}). "
            "Fix it by hand or restore it from a backup."
        ) from exc
    except RecursionError:
        raise DamagedRecord(f"{path} is nested too deeply to be a release record. Restore it "
                            "from a backup.") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise NewerRecord(
            f"{path} was written by a newer farm (record schema {version}; this farm reads "
            f"schema {SCHEMA_VERSION}). Update farm to work with this release."
        )
    try:
        return ReleaseRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the top level"
        raise DamagedRecord(
            f"{path} does not hold a valid release record: at {where}, {first['msg']}"
            + (f" ({exc.error_count() - 1} more problems)" if exc.error_count() > 1 else "")
            + ". Fix it by hand or restore it from a backup."
        ) from exc


def find_job(volume: Volume, job_name: str) -> list[tuple[str, JobRecord]]:
    """Every (release, job) on the volume with a job called ``job_name``."""
    store = RecordStore(volume)
    found: list[tuple[str, JobRecord]] = []
    for release in volume.list_releases():
        job = store.load(release).find(job_name)
        if job is not None:
            found.append((release, job))
    return found
