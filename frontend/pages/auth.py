"""Home, login and logout pages (cookie session with CSRF)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from frontend.i18n import request_language, translate
from frontend.templating import render
from service.auth import (
    SESSION_COOKIE,
    OptionalUser,
    SettingsDep,
    authenticate,
    issue_token,
    revoke_token,
)
from service.db import SessionDep
from service.errors import TooManyRequests, Unauthorized
from service.models import Role

_CONSOLE_HOME = {Role.admin: "/admin", Role.organisation: "/admin/evaluations"}

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: OptionalUser) -> HTMLResponse:
    """Landing page for every audience."""
    return render(request, "home.html")


LOGIN_CSRF_COOKIE = "minyi_login_csrf"


def _login_form(
    request: Request, ctx: Mapping[str, object], status_code: int = 200
) -> HTMLResponse:
    """The login form with a fresh double-submit CSRF token (there is no session yet)."""
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {**ctx, "login_csrf": token}, status_code=status_code)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.secure_cookies,
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, user: OptionalUser, next: str = "/") -> HTMLResponse:
    """Staff login form."""
    return _login_form(request, {"next": safe_next(next), "username": "", "error": ""})


@router.post("/login")
def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=500)] = "/",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Check the password, start a cookie session and go where the user was heading."""
    lang = request_language(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        ctx = {
            "next": safe_next(next),
            "username": username,
            "error": translate(lang, "login.expired"),
        }
        return _login_form(request, ctx, status_code=403)
    try:
        user = authenticate(
            engine=request.app.state.engine, settings=settings, username=username, password=password
        )
    except (Unauthorized, TooManyRequests) as exc:
        key = "login.locked" if isinstance(exc, TooManyRequests) else "login.failed"
        ctx = {"next": safe_next(next), "username": username, "error": translate(lang, key)}
        return _login_form(request, ctx, status_code=exc.status_code)
    raw, _ = issue_token(session, user=user, settings=settings, kind="cookie")
    target = safe_next(next)
    if target == "/" and user.role in _CONSOLE_HOME:
        # The office's work starts in the console (the organisation department's in its
        # evaluations, the part of the console it may open); others keep the home page.
        target = _CONSOLE_HOME[user.role]
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        max_age=settings.token_ttl_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    return response


@router.post("/logout")
def logout_submit(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """End the page session (the CSRF token was checked when the user was resolved)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and user is not None:
        revoke_token(session, token=cookie)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
