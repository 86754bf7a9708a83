"""Loading, patching and checking against the official Flamenco OpenAPI spec (openapi-core).

The spec file is not part of this repository: its path comes from ``FARM_FLAMENCO_SPEC``, else
``<repo>/../shared/flamenco/flamenco-openapi.yaml``. Without it the emulator runs unchecked and
warns once. The spec has known mistakes (NOTES.md); :func:`patch_spec` allows for them.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.responses.exceptions import ResponseNotFound
from werkzeug.datastructures import Headers, ImmutableMultiDict

log = logging.getLogger(__name__)

ENV_VAR = "FARM_FLAMENCO_SPEC"
_warned_missing: set[str] = set()
_warn_lock = threading.Lock()


def default_spec_path() -> Path:
    """``$FARM_FLAMENCO_SPEC``, else the spec in ``shared/`` beside the repository root."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared/flamenco/flamenco-openapi.yaml"


def _json_body(schema_ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": schema_ref}}}}


def patch_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of the spec with the known mistakes allowed for (NOTES.md).

    - ``JobTasksSummary`` requires ``tasks``, not ``jobs``;
    - ``ManagerVariable`` requires no ``name`` (the name is the map key);
    - ``AvailableJobSetting.default/description/label`` take any JSON value, null too;
    - ``steps_completed``/``steps_total`` are optional on jobs and tasks (only 3.8+ has them);
    - ``POST /api/v3/jobs/query`` (Managers up to 3.5) with ``JobsQuery``/``JobsQueryResult``.
    """
    patched: dict[str, Any] = copy.deepcopy(dict(spec))
    schemas = patched["components"]["schemas"]

    schemas["JobTasksSummary"]["required"] = ["tasks"]
    variable = schemas["ManagerVariable"]
    variable["required"] = [r for r in variable.get("required", []) if r != "name"]

    setting_props = schemas["AvailableJobSetting"]["properties"]
    for key in ("default", "description", "label"):
        desc = setting_props.get(key, {}).get("description", "")
        setting_props[key] = {"description": desc, "nullable": True}

    step_keys = {"steps_completed", "steps_total"}
    for part in schemas["Job"]["allOf"]:
        if "required" in part:
            part["required"] = [r for r in part["required"] if r not in step_keys]
    for name in ("Task", "TaskSummary"):
        schemas[name]["required"] = [r for r in schemas[name]["required"] if r not in step_keys]

    paths = patched["paths"]
    paths.setdefault("/api/v3/jobs/query", {
        "summary": "Job query endpoint of Managers up to 3.5 (removed in 3.6).",
        "post": {
            "operationId": "queryJobs",
            "summary": "Fetch list of jobs.",
            "tags": ["jobs"],
            "requestBody": {"description": "Specification of which jobs to get.",
                            "required": True, **_json_body("#/components/schemas/JobsQuery")},
            "responses": {
                "200": {"description": "Normal query response.",
                        **_json_body("#/components/schemas/JobsQueryResult")},
                "default": {"description": "Error message",
                            **_json_body("#/components/schemas/Error")},
            },
        },
    })
    return patched


@functools.lru_cache(maxsize=4)
def _load_openapi(path: str, mtime: float) -> OpenAPI:
    del mtime  # part of the cache key only
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    patched = patch_spec(raw)
    # Check the patched spec once, then build the cached object without re-checking it.
    OpenAPI.from_dict(patched)
    return OpenAPI.from_dict(patched, config=Config(spec_validator_cls=None))


def load_openapi(path: Path | None = None) -> OpenAPI | None:
    """The patched spec as a cached OpenAPI object, or None (warning once) if it is missing."""
    spec_path = Path(path) if path is not None else default_spec_path()
    try:
        mtime = spec_path.stat().st_mtime
    except OSError:
        with _warn_lock:
            first = str(spec_path) not in _warned_missing
            _warned_missing.add(str(spec_path))
        if first:
            message = (f"Flamenco OpenAPI spec not found at {spec_path}; the Manager emulator runs "
                       f"WITHOUT spec validation. Set {ENV_VAR}=/path/to/flamenco-openapi.yaml.")
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            log.warning(message)
        return None
    return _load_openapi(str(spec_path.resolve()), mtime)


@dataclass
class HttpRequest:
    """A request as openapi-core wants to see it (its ``Request`` protocol)."""

    host_url: str
    path: str
    method: str  # lower case, as the protocol wants
    body: bytes | None
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(
            path={}, query=ImmutableMultiDict(dict(self.query)),
            header=Headers(list(self.headers.items())), cookie=ImmutableMultiDict())


@dataclass
class HttpResponse:
    """A response as openapi-core wants to see it (its ``Response`` protocol)."""

    status_code: int
    data: bytes | None
    content_type: str
    headers: Headers = field(default_factory=Headers)


def _describe(exc: BaseException) -> str:
    """One line for an openapi-core error, with the schema errors under it, if any."""
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__
    schema_errors: Iterable[Any] = getattr(cause, "schema_errors", None) or ()
    details = []
    for err in schema_errors:
        where = "/".join(str(p) for p in getattr(err, "absolute_path", ())) or "<body>"
        details.append(f"{where}: {getattr(err, 'message', err)}")
    if details:
        return f"{type(exc).__name__}: " + "; ".join(details)
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({cause})"
    return f"{type(exc).__name__}: {text}"


class SpecChecker:
    """Checks requests and responses against the (patched) spec; a no-op without a spec."""

    def __init__(self, spec_path: Path | None = None, enabled: bool = True) -> None:
        self.spec_path = Path(spec_path) if spec_path is not None else default_spec_path()
        self.openapi = load_openapi(self.spec_path) if enabled else None

    @property
    def enabled(self) -> bool:
        return self.openapi is not None

    def check_request(self, request: HttpRequest) -> list[str]:
        """Problems with the request; an empty list when it matches the spec.

        Paths and methods the spec does not know are not reported here: the router answers
        404/405 for those.
        """
        if self.openapi is None:
            return []
        problems = []
        for err in self.openapi.iter_request_errors(request):
            if isinstance(err, PathError):
                return []
            problems.append(_describe(err))
        return problems

    def check_response(self, request: HttpRequest, response: HttpResponse) -> list[str]:
        """Problems with the response to ``request``; an empty list when it matches the spec.

        Error answers (4xx/5xx) that the spec does not list for the operation must still be a
        valid ``Error`` object ``{code, message}``, which is how the Manager sends every error.
        """
        if self.openapi is None:
            return []
        problems = []
        for err in self.openapi.iter_response_errors(request, response):
            if isinstance(err, PathError):
                return []
            if isinstance(err, ResponseNotFound) and response.status_code >= 400:
                problems.extend(_check_error_body(response))
                continue
            problems.append(_describe(err))
        return problems


def _check_error_body(response: HttpResponse) -> list[str]:
    try:
        body = json.loads(response.data or b"")
    except ValueError:
        return [f"error response {response.status_code} is not JSON"]
    if (not isinstance(body, dict) or not isinstance(body.get("code"), int)
            or not isinstance(body.get("message"), str)):
        return [f"error response {response.status_code} is not an Error object: {body!r}"]
    return []
