"""The subjects of democratic evaluations: /admin/subjects (the list, an add form and the
spreadsheet import with its template) and /admin/subjects/{id} (the edit form, deactivate).

Open to the organisation department (组织部) and admins, as the API is. Every write calls the
functions the API uses (``surveys.evaluation.service`` and ``.imports``),
which write the audit log. A refused form comes back with each error beside its field and the
input kept. The import is two steps, as for units: the upload answers a preview naming every bad
row and column and writes nothing; its confirm form carries the rows back and the commit checks
them all again.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from frontend.i18n import request_language, translate
from frontend.pages.admin.access import ConsoleOrganisation, ConsoleRoute
from frontend.pages.admin.common import console_render
from service.db import SessionDep
from service.errors import Conflict, Invalid
from surveys.evaluation import imports, service
from surveys.evaluation.dependencies import SubjectById
from surveys.evaluation.imports import COLUMNS, SubjectImportResult
from surveys.evaluation.models import EvaluationSubject, SubjectKind
from surveys.evaluation.schemas import SubjectCreate, SubjectUpdate
from surveys.units.models import Unit

router = APIRouter(route_class=ConsoleRoute)

FIELDS = ("kind", "name", "post", "unit_code", "term_start", "term_end")
DONE = ("created", "updated", "deactivated", "reactivated", "imported")
MAX_UPLOAD = 1_000_000


def _t(request: Request, key: str, **kw: Any) -> str:
    return translate(request_language(request), key, **kw)


def _errors(request: Request, exc: ValidationError | Invalid) -> dict[str, str]:
    """A refused form's errors by field, in the page's language."""
    items = exc.errors() if isinstance(exc, ValidationError) else exc.errors
    out: dict[str, str] = {}
    for err in items:
        loc = [str(p) for p in err["loc"]]
        field = next((p for p in reversed(loc) if p in FIELDS), "")
        if not field and "term_end" in str(err["msg"]):
            field = "term_end"
        out.setdefault(field or "name", _t(request, f"subjects.err.{field or 'name'}"))
    return out


def _units(session: Session) -> list[Unit]:
    return list(
        session.exec(select(Unit).where(col(Unit.is_active)).order_by(col(Unit.kind), col(Unit.id)))
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
    params = request.query_params
    done = params.get("done", "")
    flash = (
        _t(request, f"subjects.done.{done}", name=params.get("name", ""), n=params.get("n", ""))
        if done in DONE
        else ""
    )
    rows = service.subjects_public(session, service.subjects(session))
    ctx: dict[str, Any] = {
        "section": "subjects",
        "subjects": rows,
        "inactive": sum(1 for s in rows if not s.is_active),
        "kinds": [k.value for k in SubjectKind],
        "units": _units(session),
        "form": form or {f: "" for f in FIELDS} | {"kind": "leader"},
        "errors": errors or {},
        "file_error": file_error,
        "columns": COLUMNS,
        "flash": flash,
    }
    return console_render(request, "admin/subjects.html", ctx, status_code=status_code)


def _edit_page(
    request: Request,
    session: Session,
    subject: EvaluationSubject,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    public = service.subject_public(session, subject)
    ctx: dict[str, Any] = {
        "section": "subjects",
        "subject": public,
        "kinds": [k.value for k in SubjectKind],
        "units": _units(session),
        "form": form
        or {
            "kind": public.kind.value,
            "name": public.name,
            "post": public.post,
            "unit_code": public.unit_code or "",
            "term_start": public.term_start.isoformat() if public.term_start else "",
            "term_end": public.term_end.isoformat() if public.term_end else "",
        },
        "errors": errors or {},
    }
    return console_render(request, "admin/subject_edit.html", ctx, status_code=status_code)


def _done(action: str, **params: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/subjects?{urlencode({'done': action, **params})}", 303)


def _form(**raw: str) -> dict[str, str]:
    return {k: v.strip() for k, v in raw.items()}


def _body(form: dict[str, str]) -> dict[str, Any]:
    """The form as the API's body: empty dates and unit as absent."""
    return {
        **form,
        "unit_code": form["unit_code"],
        "term_start": form["term_start"] or None,
        "term_end": form["term_end"] or None,
    }


Text = Annotated[str, Form(max_length=1000)]


@router.get("/admin/subjects", response_class=HTMLResponse)
def subjects_page(request: Request, user: ConsoleOrganisation, session: SessionDep) -> HTMLResponse:
    """Every team and leader, the add form and the import."""
    return _page(request, session)


@router.post("/admin/subjects", response_class=HTMLResponse)
def create_subject_page(
    request: Request,
    user: ConsoleOrganisation,
    session: SessionDep,
    kind: Text = "",
    name: Text = "",
    post: Text = "",
    unit_code: Text = "",
    term_start: Text = "",
    term_end: Text = "",
) -> Response:
    """Add a subject; a refused field is named beside it with the input kept."""
    form = _form(
        kind=kind,
        name=name,
        post=post,
        unit_code=unit_code,
        term_start=term_start,
        term_end=term_end,
    )
    try:
        data = SubjectCreate.model_validate({**_body(form), "unit_code": form["unit_code"] or None})
        subject = service.create_subject(session, data=data, actor=user.username)
    except (ValidationError, Invalid) as exc:
        return _page(request, session, form=form, errors=_errors(request, exc), status_code=422)
    except Conflict:
        errors = {"name": _t(request, "subjects.err.taken")}
        return _page(request, session, form=form, errors=errors, status_code=409)
    return _done("created", name=subject.name)


@router.post("/admin/subjects/import", response_class=HTMLResponse)
def import_preview_page(
    request: Request,
    user: ConsoleOrganisation,
    session: SessionDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Read an uploaded .xlsx or .csv and show every problem by row and column; writes nothing."""
    data = file.file.read(MAX_UPLOAD + 1) if file is not None else b""
    if len(data) > MAX_UPLOAD:
        return _page(
            request, session, file_error=_t(request, "subjects.import.too_big"), status_code=422
        )
    try:
        rows = imports.read_subjects_file(data)
    except Invalid as exc:
        message = _t(request, "subjects.import.unreadable", reason=exc.errors[0]["msg"])
        return _page(request, session, file_error=message, status_code=422)
    result = imports.import_subjects(session, rows=rows, dry_run=True, actor=user.username)
    return _preview(request, result, rows, (file.filename if file else "") or "")


def _preview(
    request: Request,
    result: SubjectImportResult,
    rows: list[dict[str, str]],
    filename: str,
    status_code: int = 200,
) -> HTMLResponse:
    problems: dict[int, dict[str, str]] = {}
    for p in result.problems:
        problems.setdefault(p.row, {})[p.column] = p.reason
    ctx: dict[str, Any] = {
        "section": "subjects",
        "result": result,
        "rows": [(n, r) for n, r in enumerate(rows, start=2) if any(r.values())],
        "problems": problems,
        "columns": COLUMNS,
        "rows_json": json.dumps(rows, ensure_ascii=False),
        "filename": filename,
    }
    return console_render(request, "admin/subjects_import.html", ctx, status_code=status_code)


@router.post("/admin/subjects/import/confirm", response_class=HTMLResponse)
def import_confirm_page(
    request: Request,
    user: ConsoleOrganisation,
    session: SessionDep,
    rows: Annotated[str, Form(max_length=MAX_UPLOAD * 4)] = "",
    filename: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Write the previewed rows, all or none; if something changed since, the preview again."""
    try:
        parsed = json.loads(rows)
        assert isinstance(parsed, list) and parsed
        clean = [{c: str(r.get(c, "")) for c in COLUMNS} for r in parsed if isinstance(r, dict)]
    except (ValueError, AssertionError):
        return _page(
            request, session, file_error=_t(request, "subjects.import.again"), status_code=422
        )
    try:
        result = imports.import_subjects(
            session, rows=clean, dry_run=False, actor=user.username, file=filename
        )
    except Invalid:
        again = imports.import_subjects(session, rows=clean, dry_run=True, actor=user.username)
        return _preview(request, again, clean, filename, status_code=422)
    return _done("imported", n=str(result.imported))


@router.get("/admin/subjects/{subject_id}", response_class=HTMLResponse)
def edit_subject_page(
    request: Request, user: ConsoleOrganisation, subject: SubjectById, session: SessionDep
) -> HTMLResponse:
    """One subject's edit form."""
    return _edit_page(request, session, subject)


@router.post("/admin/subjects/{subject_id}", response_class=HTMLResponse)
def update_subject_page(
    request: Request,
    user: ConsoleOrganisation,
    subject: SubjectById,
    session: SessionDep,
    kind: Text = "",
    name: Text = "",
    post: Text = "",
    unit_code: Text = "",
    term_start: Text = "",
    term_end: Text = "",
) -> Response:
    """Save a subject; a refused field is named beside it with the input kept."""
    form = _form(
        kind=kind,
        name=name,
        post=post,
        unit_code=unit_code,
        term_start=term_start,
        term_end=term_end,
    )
    try:
        data = SubjectUpdate.model_validate(_body(form))
        service.update_subject(session, subject=subject, data=data, actor=user.username)
    except (ValidationError, Invalid) as exc:
        errors = _errors(request, exc)
        return _edit_page(request, session, subject, form=form, errors=errors, status_code=422)
    return _done("updated", name=subject.name)


@router.post("/admin/subjects/{subject_id}/active", response_class=HTMLResponse)
def set_subject_active_page(
    request: Request,
    user: ConsoleOrganisation,
    subject: SubjectById,
    session: SessionDep,
    active: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """Deactivate a subject (not offered for new evaluations, kept in past results) or reactivate."""
    data = SubjectUpdate(is_active=active == "1")
    service.update_subject(session, subject=subject, data=data, actor=user.username)
    return _done("reactivated" if active == "1" else "deactivated", name=subject.name)
