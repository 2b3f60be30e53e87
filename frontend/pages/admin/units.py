"""The unit tree: /admin/units (the tree, a create form and the spreadsheet import) and
/admin/units/{id} (the edit form).

Every write calls the functions the API uses (``surveys.units.service`` and ``.imports``), which
write the audit log. A refused form comes back with each error beside its field and the input
kept (422, or 409 for a code that exists). The import is two steps: the upload answers a preview
of every row with its problems and writes nothing; its confirm form carries the rows read from
the file back (the commit checks them all again, so nothing kept on the server can go stale).
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from frontend.i18n import request_language, translate
from frontend.pages.admin.access import ConsoleAdmin, ConsoleRoute
from frontend.pages.admin.common import console_render
from service.db import SessionDep
from service.errors import Conflict, Invalid
from surveys.units import imports, service
from surveys.units.dependencies import UnitById
from surveys.units.imports import COLUMNS, UnitImportResult
from surveys.units.models import Unit, UnitCreate, UnitKind, UnitUpdate

router = APIRouter(route_class=ConsoleRoute)

FIELDS = ("code", "name", "name_en", "kind", "parent_code")
DONE = ("created", "updated", "deactivated", "reactivated", "imported")
MAX_UPLOAD = 1_000_000  # bytes: a district's units fit many times over


def _nested(nodes: list[service.TreeNode]) -> list[dict[str, Any]]:
    """The flat depth-first list as nested dicts (``node``, ``children``) for the template."""
    roots: list[dict[str, Any]] = []
    path: list[dict[str, Any]] = []
    for node in nodes:
        item: dict[str, Any] = {"node": node, "children": []}
        del path[node.depth :]
        (path[-1]["children"] if path else roots).append(item)
        path.append(item)
    return roots


def _below(nodes: list[service.TreeNode], unit: Unit) -> set[int]:
    """The ids of the unit and every unit under it (not offered as its parent)."""
    out: set[int] = set()
    inside_depth: int | None = None
    for node in nodes:
        if inside_depth is not None and node.depth <= inside_depth:
            inside_depth = None
        if node.unit.id == unit.id:
            inside_depth = node.depth
        if inside_depth is not None and node.unit.id is not None:
            out.add(node.unit.id)
    return out


def _errors(lang: str, exc: ValidationError | Invalid) -> dict[str, str]:
    """A refused form's errors by field, in the page's language."""
    items = exc.errors() if isinstance(exc, ValidationError) else exc.errors
    errors: dict[str, str] = {}
    for err in items:
        loc = [str(part) for part in err["loc"]]
        field = next((part for part in reversed(loc) if part in FIELDS), "")
        if not field or field in errors:
            continue
        reason = field
        if field == "parent_code":
            reason = "cycle" if "cycle" in str(err["msg"]) else "parent_code"
        errors[field] = translate(lang, f"admin.units.err.{reason}")
    return errors


def _flash(request: Request) -> str:
    params = request.query_params
    done = params.get("done", "")
    if done not in DONE:
        return ""
    lang = request_language(request)
    return translate(
        lang, f"admin.units.done.{done}", name=params.get("name", ""), n=params.get("n", "")
    )


def _page(
    request: Request,
    session: Session,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    file_error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    nodes = service.unit_tree(session)
    ctx: dict[str, Any] = {
        "section": "units",
        "tree": _nested(nodes),
        "nodes": nodes,
        "total": len(nodes),
        "inactive": sum(1 for n in nodes if not n.unit.is_active),
        "kinds": [k.value for k in UnitKind],
        "form": form or {f: "" for f in FIELDS},
        "errors": errors or {},
        "file_error": file_error,
        "columns": COLUMNS,
        "flash": _flash(request),
    }
    return console_render(request, "admin/units.html", ctx, status_code=status_code)


def _edit_page(
    request: Request,
    session: Session,
    unit: Unit,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    nodes = service.unit_tree(session)
    below = _below(nodes, unit)
    parent = next((n.parent_code for n in nodes if n.unit.id == unit.id), None)
    ctx: dict[str, Any] = {
        "section": "units",
        "unit": unit,
        "parents": [n for n in nodes if n.unit.id not in below],
        "kinds": [k.value for k in UnitKind],
        "form": form
        or {
            "name": unit.name,
            "name_en": unit.name_en,
            "kind": UnitKind(unit.kind).value,
            "parent_code": parent or "",
        },
        "errors": errors or {},
        "flash": _flash(request),
    }
    return console_render(request, "admin/units_edit.html", ctx, status_code=status_code)


def _done(action: str, **params: str) -> RedirectResponse:
    anchor = f"#unit-{params.pop('id')}" if "id" in params else ""
    return RedirectResponse(f"/admin/units?{urlencode({'done': action, **params})}{anchor}", 303)


@router.get("/admin/units", response_class=HTMLResponse)
def units_page(request: Request, admin: ConsoleAdmin, session: SessionDep) -> HTMLResponse:
    """The unit tree with its kinds and states, the create form and the import."""
    return _page(request, session)


@router.post("/admin/units", response_class=HTMLResponse)
def create_unit_page(
    request: Request,
    admin: ConsoleAdmin,
    session: SessionDep,
    code: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=1000)] = "",
    name_en: Annotated[str, Form(max_length=1000)] = "",
    kind: Annotated[str, Form(max_length=64)] = "",
    parent_code: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Create a unit; a refused field is named beside it with the input kept."""
    lang = request_language(request)
    form = {
        "code": code.strip(),
        "name": name.strip(),
        "name_en": name_en.strip(),
        "kind": kind,
        "parent_code": parent_code.strip(),
    }
    try:
        data = UnitCreate.model_validate({**form, "parent_code": form["parent_code"] or None})
        unit = service.add_unit(session, data=data, actor=admin.username)
    except (ValidationError, Invalid) as exc:
        return _page(request, session, form=form, errors=_errors(lang, exc), status_code=422)
    except Conflict:
        errors = {"code": translate(lang, "admin.units.err.taken")}
        return _page(request, session, form=form, errors=errors, status_code=409)
    return _done("created", name=unit.name, id=str(unit.id))


@router.post("/admin/units/import", response_class=HTMLResponse)
def import_preview_page(
    request: Request,
    admin: ConsoleAdmin,
    session: SessionDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Read an uploaded .xlsx or .csv and show every row with its problems; writes nothing."""
    lang = request_language(request)
    # A plain def reading the spooled file: the checks below query the database.
    data = file.file.read(MAX_UPLOAD + 1) if file is not None else b""
    if len(data) > MAX_UPLOAD:
        message = translate(lang, "admin.units.import.too_big")
        return _page(request, session, file_error=message, status_code=422)
    try:
        rows = imports.read_units_file(data)
    except Invalid as exc:
        message = translate(lang, "admin.units.import.unreadable", reason=exc.errors[0]["msg"])
        return _page(request, session, file_error=message, status_code=422)
    result = imports.preview_import(session, rows=rows)
    return _preview(request, result, rows, (file.filename if file else "") or "")


def _preview(
    request: Request,
    result: UnitImportResult,
    rows: list[dict[str, str]],
    filename: str,
    status_code: int = 200,
) -> HTMLResponse:
    ctx: dict[str, Any] = {
        "section": "units",
        "result": result,
        "bad_rows": sum(1 for r in result.rows if r.errors),
        "columns": COLUMNS,
        "rows_json": json.dumps(rows, ensure_ascii=False),
        "filename": filename,
        "kinds": ", ".join(k.value for k in UnitKind),
    }
    return console_render(request, "admin/units_import.html", ctx, status_code=status_code)


def _posted_rows(raw: str) -> list[dict[str, str]] | None:
    """The rows the preview handed to its confirm form, or None when they are not rows."""
    try:
        rows = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(rows, list) or not all(
        isinstance(r, dict) and all(isinstance(v, str) for v in r.values()) for r in rows
    ):
        return None
    return rows


@router.post("/admin/units/import/confirm", response_class=HTMLResponse)
def import_confirm_page(
    request: Request,
    admin: ConsoleAdmin,
    session: SessionDep,
    rows: Annotated[str, Form(max_length=MAX_UPLOAD * 4)] = "",
    filename: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Write the previewed rows, all or none; if the units changed since, the preview again."""
    parsed = _posted_rows(rows)
    if parsed is None or not parsed:
        message = translate(request_language(request), "admin.units.import.again")
        return _page(request, session, file_error=message, status_code=422)
    try:
        count = imports.commit_import(session, rows=parsed, actor=admin.username, file=filename)
    except Invalid:
        result = imports.preview_import(session, rows=parsed)
        return _preview(request, result, parsed, filename, status_code=422)
    return _done("imported", n=str(count))


@router.get("/admin/units/{unit_id}", response_class=HTMLResponse)
def edit_unit_page(
    request: Request, admin: ConsoleAdmin, unit: UnitById, session: SessionDep
) -> HTMLResponse:
    """One unit's edit form: names, kind, parent, and its state."""
    return _edit_page(request, session, unit)


@router.post("/admin/units/{unit_id}", response_class=HTMLResponse)
def update_unit_page(
    request: Request,
    admin: ConsoleAdmin,
    unit: UnitById,
    session: SessionDep,
    name: Annotated[str, Form(max_length=1000)] = "",
    name_en: Annotated[str, Form(max_length=1000)] = "",
    kind: Annotated[str, Form(max_length=64)] = "",
    parent_code: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Save a unit's names, kind and parent; a parent below the unit is refused beside its field."""
    lang = request_language(request)
    form = {
        "name": name.strip(),
        "name_en": name_en.strip(),
        "kind": kind,
        "parent_code": parent_code.strip(),
    }
    try:
        data = UnitUpdate.model_validate(form)
        service.update_unit(session, unit=unit, data=data, actor=admin.username)
    except (ValidationError, Invalid) as exc:
        errors = _errors(lang, exc)
        return _edit_page(request, session, unit, form=form, errors=errors, status_code=422)
    return _done("updated", name=unit.name, id=str(unit.id))


@router.post("/admin/units/{unit_id}/active", response_class=HTMLResponse)
def set_unit_active_page(
    request: Request,
    admin: ConsoleAdmin,
    unit: UnitById,
    session: SessionDep,
    active: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """Deactivate a unit (not offered for new campaigns, kept in past results) or reactivate it."""
    data = UnitUpdate(is_active=active == "1")
    service.update_unit(session, unit=unit, data=data, actor=admin.username)
    action = "reactivated" if active == "1" else "deactivated"
    return _done(action, name=unit.name, id=str(unit.id))
