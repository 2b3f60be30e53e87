"""What every console page shares: times in the office's zone and the page renderer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse

from frontend.templating import render

DEFAULT_TIME_ZONE = "Asia/Shanghai"


def office_time(request: Request, value: datetime | None) -> str:
    """A stored (UTC) time as the office reads it, to the minute; "" for none."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    name = getattr(request.app.state.settings, "time_zone", DEFAULT_TIME_ZONE)
    return value.astimezone(ZoneInfo(name)).strftime("%Y-%m-%d %H:%M")


def console_render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A console page: the site's renderer plus ``when`` (a time in the office's zone)."""
    ctx = {"when": lambda value: office_time(request, value), **context}
    return render(request, name, ctx, status_code=status_code)
