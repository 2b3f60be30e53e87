"""ASGI middleware: request size limit and security headers."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_response

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds a strict CSP (no inline script, no outside origin) and friends to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        await self.app(scope, receive, with_security_headers(send))


def with_security_headers(send: Send) -> Send:
    """``send`` that adds the security headers to the response's start."""

    async def _send(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {k.lower() for k, _ in headers}
            headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
            message["headers"] = headers
        await send(message)

    return _send


# A route sets this scope key once its caller is known to be an admin; only then may the body
# of a bulk import (a path ending in /import) grow past the ordinary limit.
LARGE_BODY_KEY = "minyi.large_body"
BULK_FACTOR = 50


def allow_large_body(scope: Scope) -> None:
    """Grant the bulk-import allowance to this request (call after the admin check)."""
    scope[LARGE_BODY_KEY] = True


class BodyLimit:
    """Answers 413 for bodies over the configured size, declared or streamed.

    Paths ending in ``/import`` may carry up to ``BULK_FACTOR`` times more, but only once the
    route has authenticated an admin and called ``allow_large_body``: until then the ordinary
    limit applies to what is read, so an anonymous caller's large body is never read whole
    (the route answers 401 without reading it).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        base = self.max_bytes
        bulk = base * BULK_FACTOR if scope.get("path", "").endswith("/import") else base

        def limit() -> int:
            return bulk if scope.get(LARGE_BODY_KEY) else base

        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    too_big = int(value) > bulk
                except ValueError:
                    too_big = True
                if too_big:
                    await _reject(scope, receive, send, bulk)
                    return
        seen = 0

        async def _receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit():
                    # An HTTPException passes through the framework's body parsing (any other
                    # error there becomes a 400) and is rendered as this 413.
                    raise _TooLarge(limit())
            return message

        started = False

        async def _send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, _receive, _send)
        except _TooLarge as exc:
            if not started:
                await _reject(scope, receive, send, exc.limit)


class _TooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body larger than {limit} bytes")
        self.limit = limit


async def _reject(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    """The 413 as every other error is answered: JSON on the API, the error page on a page
    route (a form posted with too large a file gets a page in its language, not JSON)."""
    response = error_response(Request(scope), 413, f"Request body larger than {limit} bytes")
    await response(scope, receive, send)
