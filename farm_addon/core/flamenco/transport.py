"""The HTTP side of the Flamenco client: session, retries, timeouts, errors. No `bpy` module use.

:class:`ManagerSession` owns one ``requests.Session`` per Manager, with a connection pool
sized for concurrent use (see :mod:`.bulk`) and a timeout on every call. Its ``_request`` is
the only place a request is sent: every failure leaves it as a
:class:`~.errors.FlamencoError` raised ``from`` the transport error, never as a ``requests``
exception.

Retries (urllib3, bounded): GET/PUT/DELETE/HEAD on connection errors, dropped connections
and 502/503/504, with a short exponential backoff; any method, POST included, on 503 with
``Retry-After`` (the Manager's "database busy": it did not process the request), waiting as
told up to :data:`RETRY_AFTER_MAX` seconds. A connection that could not be opened is retried
for any method, as the request never left. A POST whose connection broke after it was sent is
never retried: the Manager may have acted on it. Read timeouts are not retried either: the
Manager is up but slow, and asking again only adds load.
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Collection, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import requests
import requests.adapters
import urllib3.exceptions
from pydantic import BaseModel, ValidationError
from urllib3.util.retry import Retry

from ..errors import BadInput
from .errors import (
    BadManagerURL,
    FlamencoError,
    InvalidId,
    ManagerError,
    ManagerTimeout,
    ManagerUnreachable,
    NotFound,
    StaleJobType,
    UnexpectedResponse,
)

Timeout = float | tuple[float, float]
M = TypeVar("M", bound=BaseModel)

DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 30.0)
BACKOFF_FACTOR = 0.2
BACKOFF_MAX = 2.0
RETRY_AFTER_MAX = 10
IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "DELETE", "HEAD"})
RETRY_STATUSES = frozenset({502, 503, 504})
USER_AGENT = "farm-flamenco-client/1"


class _Retry(Retry):
    """urllib3 ``Retry`` that also retries a POST answered with 503 + ``Retry-After``,
    and never retries a read timeout."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 503 and has_retry_after and self.respect_retry_after_header:
            return bool(self.total)
        return super().is_retry(method, status_code, has_retry_after)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if isinstance(error, urllib3.exceptions.ReadTimeoutError):
            raise error
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _make_retry(retries: int) -> Retry:
    return _Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=0,
        allowed_methods=IDEMPOTENT_METHODS,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=BACKOFF_FACTOR,
        backoff_max=BACKOFF_MAX,
        retry_after_max=RETRY_AFTER_MAX,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )


def normalize_url(url: str) -> str:
    """``"farm:8080/"`` -> ``"http://farm:8080"``; raise :class:`BadManagerURL` when unusable."""
    text = url.strip()
    if text and "://" not in text:
        text = "http://" + text
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadManagerURL(
            f"'{url}' is not a Flamenco Manager URL; use one like http://manager:8080"
        )
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def check_id(value: str, kind: str = "job") -> str:
    """Return ``value`` if it is a UUID; raise :class:`InvalidId` otherwise."""
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        raise InvalidId(f"'{value}' is not a valid {kind} ID (a UUID).") from None
    return value


def quote(segment: str) -> str:
    """``segment`` escaped for use as one path segment."""
    return urllib.parse.quote(segment, safe="")


def _find_cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of ``kind`` in ``exc``'s args, reasons, causes and contexts."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        linked.extend(current.args)
        todo.extend(x for x in linked if isinstance(x, BaseException))
    return None


class ManagerSession:
    """One Manager's base URL and HTTP session; the base of :class:`FlamencoClient`.

    ``timeout`` is ``(connect, read)`` seconds, used on every call; ``retries`` bounds the
    automatic retries; ``max_in_flight`` sizes the connection pool.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retries: int = 3,
        max_in_flight: int = 8,
    ) -> None:
        if max_in_flight < 1:
            raise BadInput("max_in_flight must be 1 or more.")
        self.base_url = normalize_url(base_url)
        self.timeout = timeout
        self.retries = max(0, retries)
        self.max_in_flight = max_in_flight

        session = requests.Session()
        # A render farm lives on the LAN: no proxies or .netrc from the environment, like
        # Flamenco's own add-on. It also spares every request a proxy-bypass lookup.
        session.trust_env = False
        session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=2,
            pool_maxsize=max(max_in_flight, 10),
            max_retries=_make_retry(self.retries),
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        self._session = session

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session's connections. The client can still be used; it reconnects."""
        self._session.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        ok: Collection[int] = (200,),
        not_found: str | None = None,
        accept: str | None = None,
    ) -> requests.Response:
        """Send one request; return the response if its status is in ``ok``.

        ``what`` completes "could not ..." in messages. Every failure becomes a
        :class:`FlamencoError` raised from the transport error.
        """
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        headers = {"Accept": accept} if accept else None
        try:
            response = self._session.request(
                method, url, json=json, params=params, headers=headers, timeout=self.timeout
            )
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._transport_error(exc, method, what) from exc
        if response.status_code in ok:
            return response
        raise self._status_error(response, what, not_found)

    def _transport_error(self, exc: BaseException, method: str, what: str) -> FlamencoError:
        if _find_cause(exc, urllib3.exceptions.ReadTimeoutError) or isinstance(
            exc, requests.ReadTimeout
        ):
            read = self.timeout[1] if isinstance(self.timeout, tuple) else self.timeout
            return ManagerTimeout(self.base_url, read)
        connect_failed = _find_cause(exc, urllib3.exceptions.ConnectTimeoutError)
        if connect_failed is None and isinstance(exc, requests.ConnectionError):
            if method.upper() not in IDEMPOTENT_METHODS:
                return ManagerUnreachable(
                    self.base_url,
                    f"Lost the connection to Flamenco Manager at {self.base_url} while trying "
                    f"to {what}; it may or may not have been done. Check, then try again.",
                )
            return ManagerUnreachable(
                self.base_url,
                f"Lost the connection to Flamenco Manager at {self.base_url} while trying "
                f"to {what}. Check that the Manager is running.",
            )
        return ManagerUnreachable(self.base_url)

    def _status_error(
        self, response: requests.Response, what: str, not_found: str | None
    ) -> FlamencoError:
        status = response.status_code
        code: int | None = None
        message = ""
        try:
            body = response.json()
        except ValueError:
            message = response.text.strip()[:200]
        else:
            if isinstance(body, dict):
                raw_code = body.get("code")
                code = raw_code if isinstance(raw_code, int) else None
                message = str(body.get("message", "")).strip()
        if status == 404:
            return NotFound(not_found or f"Flamenco Manager could not {what}: not found.")
        if status == 412:
            return StaleJobType(
                f"Could not {what}: the job type changed on the Manager. Try again."
            )
        if status == 503:
            return ManagerError(
                status,
                code,
                f"Flamenco Manager is busy and could not {what}; try again in a moment.",
            )
        verb = "failed to" if status >= 500 else "refused to"
        detail = f": {message}" if message else ""
        text = f"Flamenco Manager {verb} {what}{detail} (HTTP {status})."
        return ManagerError(status, code, text)

    def _json(self, response: requests.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise UnexpectedResponse(
                f"Flamenco Manager sent an unreadable answer when asked to {what}."
            ) from exc

    def _parse(self, model: type[M], response: requests.Response, what: str) -> M:
        data = self._json(response, what)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "answer"
            raise UnexpectedResponse(
                f"Flamenco Manager sent an unexpected answer when asked to {what} "
                f"({where}: {first['msg']})."
            ) from exc
