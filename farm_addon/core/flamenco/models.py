"""Typed models of the Flamenco Manager API (OpenAPI ``components/schemas``). No `bpy` module use.

Models accept fields they do not know (``extra="allow"``), so a newer Manager's answers still
parse. Fields that later Managers added are optional: ``steps_completed``/``steps_total`` on
jobs (3.8), ``initial_status`` and ``worker_tag`` on submissions, ``delete_requested_at``.
Python names are snake_case; where the JSON differs an alias carries the wire name, so send
with :meth:`ApiModel.to_json` (``by_alias``, ``exclude_none``).
"""

from __future__ import annotations

import platform as _platform
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel


def current_platform() -> str:
    """This machine's platform as Flamenco names it (Go's ``GOOS``): linux, windows, darwin..."""
    return _platform.system().lower() or "linux"


class ApiModel(BaseModel):
    """Base of all API models."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        """The JSON body to send: wire names, no ``None`` values."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# Meta ---------------------------------------------------------------------------------------


class FlamencoVersion(ApiModel):
    version: str
    shortversion: str
    name: str = ""
    git: str = ""


class ManagerConfiguration(ApiModel):
    storage_location: str = Field(alias="storageLocation")
    shaman_enabled: bool = Field(alias="shamanEnabled")
    is_first_run: bool = Field(default=False, alias="isFirstRun")


class SharedStorageLocation(ApiModel):
    location: str
    audience: str
    platform: str
    shaman_enabled: bool = Field(alias="shamanEnabled")


class ManagerVariable(ApiModel):
    """One variable; its name is the key in :class:`ManagerVariables`."""

    value: str
    is_twoway: bool = False


class ManagerVariables(RootModel[dict[str, ManagerVariable]]):
    """Variable name -> value, for one audience and platform."""


class FarmStatusReport(ApiModel):
    """``status``: active, idle, waiting, asleep, inoperative, unknown or starting."""

    status: str


class Error(ApiModel):
    """The Manager's error body."""

    code: int
    message: str


# Job types ----------------------------------------------------------------------------------


class AvailableJobSetting(ApiModel):
    key: str
    type: str
    subtype: str | None = None
    choices: list[str] | None = None
    propargs: dict[str, Any] | None = None
    description: Any = None
    label: Any = None
    default: Any = None
    eval: str | None = None
    eval_info: dict[str, Any] | None = Field(default=None, alias="evalInfo")
    visible: str | None = None
    required: bool = False
    editable: bool | None = None

    @property
    def is_editable(self) -> bool:
        """Clients treat a missing ``editable`` as editable (the spec's default is wrong)."""
        return self.editable is None or self.editable


class AvailableJobType(ApiModel):
    name: str
    label: str
    description: str | None = None
    settings: list[AvailableJobSetting]
    etag: str

    def setting(self, key: str) -> AvailableJobSetting | None:
        return next((s for s in self.settings if s.key == key), None)


class AvailableJobTypes(ApiModel):
    job_types: list[AvailableJobType]


# Jobs ---------------------------------------------------------------------------------------


class JobStorageInfo(ApiModel):
    shaman_checkout_id: str | None = None


class SubmittedJob(ApiModel):
    """A job to submit. ``type_etag`` is filled in by the client when left empty."""

    name: str
    type: str
    priority: int = 50
    submitter_platform: str = Field(default_factory=current_platform)
    type_etag: str | None = None
    settings: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None
    storage: JobStorageInfo | None = None
    worker_tag: str | None = None
    initial_status: str | None = None


class Job(SubmittedJob):
    """A job as the Manager stores it."""

    submitter_platform: str = ""
    id: str
    created: datetime
    updated: datetime
    status: str
    activity: str = ""
    steps_completed: int | None = None
    steps_total: int | None = None
    delete_requested_at: datetime | None = None

    @property
    def label(self) -> str:
        """How messages name this job."""
        return self.name or self.id


class JobsQuery(ApiModel):
    """Body of ``POST /api/v3/jobs/query`` (Managers up to 3.5)."""

    offset: int | None = None
    limit: int | None = None
    order_by: list[str] | None = None
    status_in: list[str] | None = None
    metadata: dict[str, str] | None = None
    settings: dict[str, Any] | None = None


class JobsQueryResult(ApiModel):
    jobs: list[Job]


class JobStatusChange(ApiModel):
    status: str
    reason: str


class JobMassDeletionSelection(ApiModel):
    last_updated_max: datetime


class JobLastRenderedImageInfo(ApiModel):
    """The image is at ``{base}/{suffix}``, relative to the Manager's URL."""

    base: str
    suffixes: list[str]


# Tasks --------------------------------------------------------------------------------------


class TaskWorker(ApiModel):
    id: str
    name: str
    address: str = ""


class TaskSummary(ApiModel):
    id: str
    name: str
    status: str
    index_in_job: int
    priority: int
    task_type: str
    updated: datetime
    worker: TaskWorker | None = None
    steps_completed: int | None = None
    steps_total: int | None = None


class JobTasksSummary(ApiModel):
    tasks: list[TaskSummary] = []


# Workers ------------------------------------------------------------------------------------


class WorkerStatusChangeRequest(ApiModel):
    status: str
    is_lazy: bool


class WorkerSummary(ApiModel):
    id: str
    name: str
    status: str
    status_change: WorkerStatusChangeRequest | None = None
    last_seen: datetime | None = None
    version: str = ""
    can_restart: bool | None = None


class WorkerList(ApiModel):
    workers: list[WorkerSummary]


class WorkerTag(ApiModel):
    id: str | None = None
    name: str
    description: str | None = None


class WorkerTagList(ApiModel):
    tags: list[WorkerTag] = []
