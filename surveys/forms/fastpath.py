"""The public response post, answered without the framework's per-request machinery.

Under load most of the server's CPU per response went to routing, dependency solving and six
layers of middleware, not to Minyi's own work (py-spy, 64 clients). ``ResponsePostFastPath``
sits outside that stack. For ``POST /api/v1/campaigns/{id}/responses`` with a JSON body that
``ResponseIn`` accepts, it calls the route's own ``accept_response`` and answers with the
app's own exception handlers and security headers. Anything else, including every body that
fails validation or is too large, goes down the normal stack with the body replayed, so the
route answers it exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.middleware import with_security_headers
from surveys.forms.router import accept_response
from surveys.forms.schemas import ResponseIn

PATH = re.compile(r"/api/v1/campaigns/([1-9][0-9]{0,17})/responses")

Handler = Callable[[Request, Exception], Awaitable[Response]]


class ResponsePostFastPath:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = (
            PATH.fullmatch(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if match is None or not self._json_within_limit(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > self.max_bytes or not message.get("more_body", False):
                break
        data = None
        last = messages[-1]
        if (
            last["type"] == "http.request"
            and not last.get("more_body")
            and len(body) <= self.max_bytes
        ):
            try:
                data = ResponseIn.model_validate_json(body)
            except ValidationError:
                data = None
        if data is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        request = Request(scope, receive)
        state = request.app.state  # what the surveys domain built at start-up
        response: Response
        try:
            response = await accept_response(
                request,
                campaign_id=int(match[1]),
                data=data,
                limiter=state.rate_limiter,
                cache=state.form_cache,
                writer=state.response_writer,
                engine=state.engine,
                secret=state.settings.secret_key or "",
            )
        except Exception as exc:
            handler = _handler_for(request, exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, with_security_headers(send))

    def _json_within_limit(self, scope: Scope) -> bool:
        json = False
        for key, value in scope["headers"]:
            if key == b"content-type":
                json = value.split(b";")[0].strip().lower() == b"application/json"
            elif key == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                return False
        return json


def _handler_for(request: Request, exc: Exception) -> Handler | None:
    """The app's exception handler for this error (the one the route would have reached)."""
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers:
            handler: Handler = handlers[cls]
            return handler
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that gives back what was read, then carries on with the client."""
    pending = list(messages)

    async def _receive() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return _receive
