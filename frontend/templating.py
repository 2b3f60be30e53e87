"""The Jinja environment and the one helper every page renders through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from frontend.i18n import LANGUAGES, request_language, translate
from service.auth import SESSION_COOKIE, csrf_token_for
from service.localtime import MINUTE, local_time

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render a page with the language, translator, current user and CSRF token in context."""
    lang = request_language(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    ctx: dict[str, Any] = {
        "lang": lang,
        "languages": LANGUAGES,
        "t": lambda key, **kw: translate(lang, key, **kw),
        "user": getattr(request.state, "user", None),
        "csrf_token": csrf_token_for(request.app.state.settings, cookie) if cookie else "",
        # Every time a page shows is in the office's zone, through this one helper.
        "local_time": lambda value, fmt=MINUTE: local_time(
            value, request.app.state.settings.time_zone, fmt
        ),
    }
    ctx.update(context or {})
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    if request.query_params.get("lang") in LANGUAGES:
        secure = request.app.state.settings.secure_cookies
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", secure=secure)
    return response
