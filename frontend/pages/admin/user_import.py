"""Deputies in bulk: upload a CSV or XLSX of accounts, see a preview that names every bad row,
confirm, and print the initial passwords (one card per deputy, shown once, never cached).

The checks and the writes are ``service.user_import``'s; the confirmation carries the previewed
rows back in a hidden field and the service checks them all again before creating anything, so
a username taken in between is named as in the preview (409) and nothing is created.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from frontend.i18n import request_language, translate
from frontend.pages.admin.access import ConsoleAdmin, ConsoleRoute
from frontend.pages.admin.common import console_render
from frontend.pages.admin.users import initial_password
from service.db import SessionDep
from service.user_import import (
    MAX_ROWS,
    ImportFileError,
    ImportRow,
    check_rows,
    import_users,
    read_rows,
    role_of,
)

router = APIRouter(route_class=ConsoleRoute)

MAX_FILE_BYTES = 1_000_000


def _page(
    request: Request,
    *,
    rows: list[ImportRow] | None = None,
    file_error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    lang = request_language(request)
    shown = []
    for r in rows or []:
        role = role_of(r.role)
        shown.append(
            {
                "row": r,
                "role_label": translate(lang, f"role.{role.value}") if role else r.role,
                "problems": [translate(lang, f"admin.import.err.{p}") for p in r.problems],
            }
        )
    bad = sum(1 for r in rows or [] if r.problems)
    ctx: dict[str, Any] = {
        "section": "users",
        "rows": shown,
        "bad": bad,
        "payload": json.dumps([r.as_dict() for r in rows or []], ensure_ascii=False),
        "errors": {"file": file_error} if file_error else {},
        "max_rows": MAX_ROWS,
    }
    return console_render(request, "admin/user_import.html", ctx, status_code=status_code)


@router.get("/admin/users/import", response_class=HTMLResponse)
def import_page(request: Request, admin: ConsoleAdmin) -> HTMLResponse:
    """The form to upload a spreadsheet of deputies."""
    return _page(request)


@router.post("/admin/users/import", response_class=HTMLResponse)
def preview_import(
    request: Request,
    admin: ConsoleAdmin,
    session: SessionDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """Read the file and show every row with its problems; nothing is written yet.

    A plain ``def``: parsing a workbook and the lookups are blocking work for the thread pool."""
    lang = request_language(request)
    data = file.file.read(MAX_FILE_BYTES + 1) if file is not None else b""
    name = (file.filename or "") if file is not None else ""
    if len(data) > MAX_FILE_BYTES:
        message = translate(lang, "admin.import.file.too_big")
        return _page(request, file_error=message, status_code=422)
    try:
        rows = read_rows(data, filename=name)
    except ImportFileError as exc:
        message = translate(lang, f"admin.import.file.{exc.code}", n=MAX_ROWS)
        return _page(request, file_error=message, status_code=422)
    check_rows(session, rows=rows)
    status_code = 422 if any(r.problems for r in rows) else 200
    return _page(request, rows=rows, status_code=status_code)


def _rows_from_payload(payload: str) -> list[ImportRow] | None:
    """The previewed rows sent back by the confirmation form; None if they are not rows."""
    try:
        raw = json.loads(payload)
        rows = [
            ImportRow(int(r["line"]), str(r["username"]), str(r["display_name"]), str(r["role"]))
            for r in raw
        ]
    except (ValueError, TypeError, KeyError):
        return None
    return rows if 0 < len(rows) <= MAX_ROWS else None


@router.post("/admin/users/import/confirm", response_class=HTMLResponse)
def confirm_import(
    request: Request,
    admin: ConsoleAdmin,
    session: SessionDep,
    rows: Annotated[str, Form(max_length=200_000)] = "",
) -> HTMLResponse:
    """Create every previewed account at once, or none; the initial passwords are shown once."""
    lang = request_language(request)
    parsed = _rows_from_payload(rows)
    if parsed is None:
        message = translate(lang, "admin.import.file.again")
        return _page(request, file_error=message, status_code=422)
    created = import_users(
        session, actor=admin.username, rows=parsed, new_password=initial_password
    )
    if created is None:
        return _page(request, rows=parsed, status_code=409)
    ctx = {
        "section": "users",
        "cards": [{"user": u, "password": p} for u, p in created],
        "login_url": str(request.base_url) + "login",
    }
    response = console_render(request, "admin/user_import_done.html", ctx)
    # The initial passwords are on this page only: never kept by a cache or the history.
    response.headers["Cache-Control"] = "no-store"
    return response
