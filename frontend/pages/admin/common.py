"""What every console page shares: times in the office's zone and the page renderer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from frontend.templating import render
from service.localtime import local_time


def office_time(request: Request, value: datetime | None) -> str:
    """A stored (UTC) time as the office reads it, to the minute; "" for none."""
    return local_time(value, request.app.state.settings.time_zone)


def console_render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A console page: the site's renderer plus ``when`` (a time in the office's zone)."""
    ctx = {"when": lambda value: office_time(request, value), **context}
    return render(request, name, ctx, status_code=status_code)
