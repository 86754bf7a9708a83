"""From an HTTP request to a response: faults, routing, spec checks, handler, record keeping."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from werkzeug.datastructures import Headers

from .api import ApiError, RequestContext, Response, build_router
from .spec import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from .emulator import Emulator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncomingRequest:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    host_url: str


@dataclass(frozen=True)
class Outcome:
    """What the HTTP layer must do: send ``response``, or drop the connection."""

    response: Response | None
    drop: bool = False


def _content_type(headers: Mapping[str, str]) -> str:
    for key, value in headers.items():
        if key.lower() == "content-type":
            return value.lower()
    return ""


class Dispatcher:
    """Handles requests for one emulator."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.router = build_router()

    def handle(self, request: IncomingRequest) -> Outcome:
        emu = self.emu
        decision = emu.faults.decide(request.method, request.path)
        if decision.latency:
            time.sleep(decision.latency)
        fault = decision.fault
        if fault is not None and fault.kind == "drop":
            emu.record_request(request.method, request.path, 0)
            return Outcome(None, drop=True)
        if fault is not None and fault.kind in ("503", "500"):
            status = int(fault.kind)
            headers = {"Retry-After": str(fault.retry_after)} if status == 503 else {}
            message = ("database is busy, retry later" if status == 503
                       else "injected internal server error")
            response = ApiError(status, message, headers).to_response()
            emu.record_request(request.method, request.path, status)
            return Outcome(response)

        response = self.dispatch(request)
        if fault is not None and fault.kind == "drop_after":
            emu.record_request(request.method, request.path, 0)
            return Outcome(None, drop=True)
        emu.record_request(request.method, request.path, response.status)
        return Outcome(response)

    def dispatch(self, request: IncomingRequest) -> Response:
        """Route, check and handle one request (no fault injection)."""
        emu = self.emu
        emu.process_due_deletions()
        try:
            match = self.router.match(request.method, request.path, emu.manager_version)
        except ApiError as ex:
            return ex.to_response()

        checked = match.route.in_spec and emu.checker.enabled
        spec_request = HttpRequest(
            host_url=request.host_url, path=request.path, method=request.method.lower(),
            body=request.body, content_type=_content_type(request.headers),
            headers=request.headers, query=request.query)
        if checked:
            problems = emu.checker.check_request(spec_request)
            if problems:
                emu.add_violation(f"request {request.method} {request.path}: "
                                  + "; ".join(problems))
                return ApiError(400, "request does not match the API specification: "
                                + "; ".join(problems)).to_response()

        ctx = RequestContext(emu, request.method, request.path, match.params, request.headers,
                             request.body)
        try:
            with emu.store.lock:
                response = match.route.handler(ctx)
        except ApiError as ex:
            response = ex.to_response()
        except (KeyError, TypeError, ValueError) as ex:
            if checked:  # the spec check let it through, so this is an emulator bug
                record_emulator_error(emu, request, ex)
                response = ApiError(500, f"emulator error: {ex!r}").to_response()
            else:  # unchecked: a malformed body, refused as the Manager would
                response = ApiError(400, f"invalid request: {ex!r}").to_response()
        except Exception as ex:  # an emulator bug: answer 500 and make the test fail
            record_emulator_error(emu, request, ex)
            response = ApiError(500, f"emulator error: {ex!r}").to_response()

        if checked:
            data, content_type = response.encoded()
            spec_response = HttpResponse(response.status, data, content_type or "",
                                         Headers(list(response.headers.items())))
            problems = emu.checker.check_response(spec_request, spec_response)
            if problems:
                emu.add_violation(f"response {response.status} to {request.method} "
                                  f"{request.path}: " + "; ".join(problems))
        return response


def record_emulator_error(emu: Emulator, request: IncomingRequest, ex: Exception) -> None:
    """Log an emulator bug and record it as a violation, so that the test fails."""
    log.error("emulator error handling %s %s", request.method, request.path, exc_info=ex)
    emu.add_violation(f"emulator error in {request.method} {request.path}: {ex!r}")
