"""One error base class and the handlers that render every error the same way."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError


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


def _json(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Map AppError, IntegrityError (409), DataError and OverflowError (422) to JSON in one place."""

    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        if isinstance(exc, Invalid):
            return _json(422, exc.errors)
        body: Any = exc.message if not exc.extra else {"message": exc.message, **exc.extra}
        return _json(exc.status_code, body, exc.headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, _exc: IntegrityError) -> JSONResponse:
        return _json(409, "Conflicts with an existing record")

    @app.exception_handler(DataError)
    async def _data(_request: Request, _exc: DataError) -> JSONResponse:
        return _json(
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
    async def _overflow(_request: Request, _exc: OverflowError) -> JSONResponse:
        # SQLite's driver refuses integers beyond 64 bits (PostgreSQL raises DataError).
        return _json(
            422,
            [{"loc": ["request"], "msg": "A number is too large", "type": "data_error"}],
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Keep FastAPI's shape but never echo huge or binary input back.
        errors = []
        for err in exc.errors():
            e = {k: v for k, v in err.items() if k in ("loc", "msg", "type")}
            errors.append(e)
        return _json(422, errors)
