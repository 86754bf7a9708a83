"""Routing for the emulated API: routes per method and path template, available per version."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..versions import ManagerVersion

if TYPE_CHECKING:
    from ..emulator import Emulator


class ApiError(Exception):
    """An error answer: ``{code, message}`` with this HTTP status."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})

    def to_response(self) -> Response:
        return Response(self.status, {"code": self.status, "message": self.message},
                        headers=self.headers)


@dataclass
class Response:
    """What a handler answers. ``body`` is JSON-able, bytes, or None (no body)."""

    status: int = 200
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    _encoded: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def encoded(self) -> tuple[bytes, str | None]:
        """The body bytes and content type to send (None when there is no body)."""
        if self.body is None:
            return b"", None
        if self._encoded is None:
            if isinstance(self.body, bytes):
                self._encoded = self.body
            elif isinstance(self.body, str):
                self._encoded = self.body.encode()
            else:
                self._encoded = json.dumps(self.body).encode()
        return self._encoded, self.content_type


@dataclass
class RequestContext:
    """One request, as handlers see it."""

    emu: Emulator
    method: str
    path: str
    params: dict[str, str]
    headers: Mapping[str, str]
    raw_body: bytes

    def json(self) -> Any:
        """The body as JSON (the spec check already refused a body that is not)."""
        if not self.raw_body:
            return {}
        try:
            return json.loads(self.raw_body)
        except ValueError as ex:
            raise ApiError(400, f"invalid JSON body: {ex}") from None

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise ApiError(400, "request body should be a JSON object")
        return body

    def header(self, name: str, default: str = "") -> str:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default


Handler = Callable[[RequestContext], Response]
VersionCheck = Callable[[ManagerVersion], bool]


def always(_: ManagerVersion) -> bool:
    return True


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    available: VersionCheck = always
    in_spec: bool = True  # False for routes the spec does not describe (served files)
    pattern: re.Pattern[str] = field(init=False)
    literal: bool = field(init=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"{([A-Za-z_]+)}", r"(?P<\1>[^/]+)", re.escape(self.template)
                       .replace(r"\{", "{").replace(r"\}", "}"))
        self.pattern = re.compile(f"^{regex}$")
        self.literal = "{" not in self.template


@dataclass
class Match:
    route: Route
    params: dict[str, str]


class Router:
    """Finds the route of a request; 404 for unknown paths, 405 for unknown methods."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, available: VersionCheck = always,
            in_spec: bool = True) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self.routes.append(Route(method.upper(), template, handler, available, in_spec))
            # Literal paths win over templates (/jobs/types before /jobs/{job_id}).
            self.routes.sort(key=lambda r: (not r.literal, r.template.count("{")))
            return handler
        return decorate

    def match(self, method: str, path: str, version: ManagerVersion) -> Match:
        path_known = False
        for route in self.routes:
            found = route.pattern.match(path)
            if not found or not route.available(version):
                continue
            if route.method == method.upper():
                return Match(route, found.groupdict())
            path_known = True
        if path_known:
            raise ApiError(405, f"method {method} not allowed on {path}")
        raise ApiError(404, f"no such endpoint: {path}")
