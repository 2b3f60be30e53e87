"""One error base class and the handlers that render every error the same way.

The API (paths under ``/api/``) always answers JSON. Other paths are pages: when the app has
registered an HTML renderer (``set_html_renderer``; the service cannot import the pages
itself), their errors are rendered as a page in the page's language, so a browser never
lands on ``{"detail": ...}``. A database that is unreachable, or a lock it could not get within
the bound, answers 503 with Retry-After everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger(__name__)

# Seconds a client is told to wait when the database is down or busy.
RETRY_AFTER_DOWN = 5
RETRY_AFTER_BUSY = 2


class AppError(Exception):
    """Base of every expected error: a message for people and an HTTP status."""

    status_code = 400

    def __init__(self, message: str, status_code: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.extra = extra
        self.headers: dict[str, str] | None = None


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class Gone(AppError):
    status_code = 410


class Unauthorized(AppError):
    status_code = 401

    def __init__(self, message: str = "Not authenticated") -> None:
        super().__init__(message)
        self.headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    status_code = 403


class TooManyRequests(AppError):
    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(max(1, retry_after))}


def error_item(loc: tuple[str | int, ...] | list[str | int], msg: str) -> dict[str, Any]:
    """One entry of a 422's ``detail``, in FastAPI's validation shape."""
    return {"loc": list(loc), "msg": msg, "type": "value_error"}


class Invalid(AppError):
    """A 422 in FastAPI's validation shape, naming each bad field and the reason."""

    status_code = 422

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        self.errors = errors

    @classmethod
    def field(cls, loc: tuple[str | int, ...] | list[str | int], msg: str) -> Invalid:
        return cls([error_item(loc, msg)])


# (request, status, reason) -> a page; reason is "unavailable", "busy" or "".
HtmlRenderer = Callable[[Request, int, str], Response]


def set_html_renderer(app: FastAPI, renderer: HtmlRenderer) -> None:
    """Render the errors of page routes with renderer (the app factory registers the pages')."""
    app.state.html_error_renderer = renderer


def wants_html(request: Request) -> bool:
    """True for a page request: not the API nor ``/healthz``, and not asking for JSON only."""
    path = request.url.path
    if path.startswith(("/api/", "/static/")) or path in ("/api", "/healthz"):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or "application/json" not in accept


def database_fault(exc: Exception) -> str:
    """Why exc means the database cannot serve now: "busy" (a lock not granted within the
    bound), "unavailable" (no connection), or "" (a bug or a bad value, not a fault)."""
    if isinstance(exc, PoolTimeout):
        return "busy"
    if isinstance(exc, IntegrityError | DataError) or not isinstance(exc, DBAPIError):
        return ""
    text = str(exc.orig)
    name = type(exc.orig).__name__
    if name in ("LockNotAvailable", "QueryCanceled") or "database is locked" in text:
        return "busy"
    if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
        return "unavailable"
    return ""


def _json(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def error_response(
    request: Request,
    status: int,
    detail: Any,
    headers: dict[str, str] | None = None,
    reason: str = "",
) -> Response:
    """JSON for the API, the registered error page for page routes."""
    renderer: HtmlRenderer | None = getattr(request.app.state, "html_error_renderer", None)
    if renderer is not None and wants_html(request):
        page = renderer(request, status, reason)
        for key, value in (headers or {}).items():
            page.headers[key] = value
        return page
    return _json(status, detail, headers)


def unavailable_response(request: Request, reason: str) -> Response:
    """The 503 for a database that is down ("unavailable") or busy past the lock bound."""
    if reason == "busy":
        retry, message = RETRY_AFTER_BUSY, "The database is busy; please try again shortly"
    else:
        retry, message = RETRY_AFTER_DOWN, "The database is unavailable; please try again shortly"
    return error_response(request, 503, message, {"Retry-After": str(retry)}, reason)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error to one answer: JSON on the API, a page on page routes (once the app
    registered a renderer); the database's faults to 503 with Retry-After."""

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        if isinstance(exc, Invalid):
            return error_response(request, 422, exc.errors)
        body: Any = exc.message if not exc.extra else {"message": exc.message, **exc.extra}
        return error_response(request, exc.status_code, body, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        return error_response(request, exc.status_code, exc.detail, dict(exc.headers or {}))

    async def _database(request: Request, exc: Exception) -> Response:
        reason = database_fault(exc)
        if not reason:
            raise exc  # a bug, not a fault of the database: the 500 handler answers
        log.warning("database %s: %s", reason, type(getattr(exc, "orig", exc)).__name__)
        return unavailable_response(request, reason)

    for cls in (OperationalError, InterfaceError, DBAPIError, PoolTimeout):
        app.add_exception_handler(cls, _database)

    @app.exception_handler(Exception)
    async def _server_error(request: Request, _exc: Exception) -> Response:
        # Reached through Starlette's outermost middleware, which logs the error afterwards.
        return error_response(request, 500, "Internal Server Error")

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, _exc: IntegrityError) -> Response:
        return error_response(request, 409, "Conflicts with an existing record")

    @app.exception_handler(DataError)
    async def _data(request: Request, _exc: DataError) -> Response:
        return error_response(
            request,
            422,
            [
                {
                    "loc": ["body"],
                    "msg": "Value out of range or of the wrong type",
                    "type": "data_error",
                }
            ],
        )

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, _exc: OverflowError) -> Response:
        # SQLite's driver refuses integers beyond 64 bits (PostgreSQL raises DataError).
        return error_response(
            request,
            422,
            [{"loc": ["request"], "msg": "A number is too large", "type": "data_error"}],
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        # Keep FastAPI's shape but never echo huge or binary input back.
        errors = []
        for err in exc.errors():
            e = {k: v for k, v in err.items() if k in ("loc", "msg", "type")}
            errors.append(e)
        return error_response(request, 422, errors)
