"""The error page of every page route (the service's handlers call it; see service.errors)."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from frontend.i18n import request_language, translate
from frontend.templating import render

# Statuses with their own message; any other 4xx/5xx gets the general one of its class.
_KNOWN = {400, 401, 403, 404, 405, 409, 410, 413, 422, 429, 500, 503}


def render_error(request: Request, status: int, reason: str) -> Response:
    """A friendly page in the page's language for status (reason: "unavailable", "busy")."""
    lang = request_language(request)
    if reason in ("unavailable", "busy"):
        key = f"error.{reason}"
    elif status in _KNOWN:
        key = f"error.{status}"
    else:
        key = "error.500" if status >= 500 else "error.400"
    response = render(request, "error.html", {"message": translate(lang, key)}, status)
    if status >= 500:
        response.headers["Cache-Control"] = "no-store"
    return response
