"""Accounts: list and search, create, deactivate and reactivate, reset a password, change role.

Every write goes through the account functions the API uses (``service.users``), which also
write the audit log; the page only reads the form and shows what went wrong beside the field.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, or_, select

from frontend.i18n import request_language, translate
from frontend.pages.admin.access import ConsoleAdmin, ConsoleRoute
from frontend.pages.admin.common import console_render
from service.db import SessionDep
from service.errors import Conflict
from service.models import Role, User, UserCreate, UserUpdate
from service.passwords import MIN_LENGTH, password_problem
from service.users import UserById, create_user_route, deactivate_user, update_user

router = APIRouter(route_class=ConsoleRoute)

# Readable on paper: no 0/O, 1/I/L. Three groups of four give 12 characters (about 60 bits).
PRINTABLE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
FIELDS = ("username", "display_name", "role", "password")


def initial_password() -> str:
    """A random password to print and hand over, e.g. ``K7M3-Q9XH-T2AB``."""
    while True:
        raw = "".join(secrets.choice(PRINTABLE_ALPHABET) for _ in range(12))
        candidate = f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
        if password_problem(candidate) is None:
            return candidate


def _password_reason(lang: str, password: str) -> str:
    """Why the password rule refuses password, in the page's language."""
    problem = password_problem(password) or ""
    if len(password) < MIN_LENGTH:
        return translate(lang, "admin.users.err.password_short", n=MIN_LENGTH)
    if "repeated" in problem:
        return translate(lang, "admin.users.err.password_repeated")
    if "commonly used" in problem:
        return translate(lang, "admin.users.err.password_common")
    return problem


def create_errors(lang: str, exc: ValidationError, password: str) -> dict[str, str]:
    """The account form's validation errors by field, in the page's language."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        if field in errors or field not in FIELDS:
            continue
        if field == "password":
            errors[field] = _password_reason(lang, password)
        else:
            errors[field] = translate(lang, f"admin.users.err.{field}")
    return errors


def search_users(session: Session, *, q: str = "", role: str = "", active: str = "") -> list[User]:
    """Accounts matching the search words (username or name), role and active flag."""
    query = select(User).order_by(col(User.id))
    if q:
        like = f"%{q.lower()}%"
        query = query.where(or_(col(User.username).ilike(like), col(User.display_name).ilike(like)))
    if role in {r.value for r in Role}:
        query = query.where(User.role == role)
    if active in ("1", "0"):
        query = query.where(User.is_active == (active == "1"))
    return list(session.exec(query))


def _page(
    request: Request,
    session: Session,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    row_error: tuple[int, str] | None = None,
    one_time: tuple[User, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    params = request.query_params
    q, role, active = params.get("q", ""), params.get("role", ""), params.get("active", "")
    lang = request_language(request)
    done = params.get("done", "")
    flash = ""
    if done in ("created", "deactivated", "reactivated", "role"):
        flash = translate(lang, f"admin.users.done.{done}", name=params.get("name", ""))
    ctx: dict[str, Any] = {
        "section": "users",
        "users": search_users(session, q=q, role=role, active=active),
        "search": {"q": q, "role": role, "active": active},
        "roles": [r.value for r in Role],
        "form": form or {"username": "", "display_name": "", "role": Role.deputy.value},
        "errors": errors or {},
        "row_error": row_error,
        "one_time": one_time,
        "min_length": MIN_LENGTH,
        "flash": flash,
    }
    response = console_render(request, "admin/users.html", ctx, status_code=status_code)
    if one_time is not None:
        # The initial password is on this page only: never kept by a cache or the history.
        response.headers["Cache-Control"] = "no-store"
    return response


def _done(action: str, user: User) -> RedirectResponse:
    query = urlencode({"done": action, "name": user.username})
    return RedirectResponse(f"/admin/users?{query}", status_code=303)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, admin: ConsoleAdmin, session: SessionDep) -> HTMLResponse:
    """Every account, searchable, with the form to create one."""
    return _page(request, session)


@router.post("/admin/users", response_class=HTMLResponse)
def create_user_page(
    request: Request,
    admin: ConsoleAdmin,
    session: SessionDep,
    username: Annotated[str, Form(max_length=200)] = "",
    display_name: Annotated[str, Form(max_length=500)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Create an account; a refused field is named beside it with the input kept."""
    lang = request_language(request)
    form = {"username": username.strip(), "display_name": display_name.strip(), "role": role}
    try:
        data = UserCreate(
            username=form["username"],
            display_name=form["display_name"],
            role=role,  # type: ignore[arg-type]  # validated into a Role here
            password=password,
        )
        user = create_user_route(data, admin, session)
    except ValidationError as exc:
        errors = create_errors(lang, exc, password)
        return _page(request, session, form=form, errors=errors, status_code=422)
    except Conflict:
        errors = {"username": translate(lang, "admin.users.err.taken")}
        return _page(request, session, form=form, errors=errors, status_code=409)
    return _done("created", user)


def _refuse_self(request: Request, session: Session, admin: User, user: User) -> Response | None:
    """An admin may not lock themselves out (deactivate or demote their own account)."""
    if user.id != admin.id:
        return None
    message = translate(request_language(request), "admin.users.err.self")
    return _page(request, session, row_error=(user.id or 0, message), status_code=409)


@router.post("/admin/users/{user_id}/active", response_class=HTMLResponse)
def set_active_page(
    request: Request,
    admin: ConsoleAdmin,
    user: UserById,
    session: SessionDep,
    active: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """Deactivate (its sessions stop working) or reactivate an account."""
    refused = _refuse_self(request, session, admin, user)
    if refused is not None:
        return refused
    if active == "1":
        update_user(UserUpdate(is_active=True), admin, user, session)
        return _done("reactivated", user)
    deactivate_user(admin, user, session)
    return _done("deactivated", user)


@router.post("/admin/users/{user_id}/role", response_class=HTMLResponse)
def set_role_page(
    request: Request,
    admin: ConsoleAdmin,
    user: UserById,
    session: SessionDep,
    role: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Give an account another role."""
    refused = _refuse_self(request, session, admin, user)
    if refused is not None:
        return refused
    if role not in {r.value for r in Role}:
        message = translate(request_language(request), "admin.users.err.role")
        return _page(request, session, row_error=(user.id or 0, message), status_code=422)
    update_user(UserUpdate(role=Role(role)), admin, user, session)
    return _done("role", user)


@router.post("/admin/users/{user_id}/password", response_class=HTMLResponse)
def reset_password_page(
    request: Request, admin: ConsoleAdmin, user: UserById, session: SessionDep
) -> Response:
    """Give the account a new random initial password, shown once on this page to print;
    the account's tokens and sessions stop working."""
    password = initial_password()
    update_user(UserUpdate(password=password), admin, user, session)
    return _page(request, session, one_time=(user, password))
