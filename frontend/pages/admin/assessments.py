"""The annual assessment in the console: /admin/assessments (the list and a create form) and
/admin/assessments/{id} (weights and campaigns, finalisation, the entered scores with their
entry form and spreadsheet import).

The organisation department (组织部) and admins use these pages. Every write calls the
functions the API uses (``analytics.assessment.service`` and ``.imports``), which write the
audit log; a refused form comes back with each error beside its field and the input kept.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from analytics.assessment import imports, service, snapshot
from analytics.assessment.dependencies import AssessmentById
from analytics.assessment.imports import COLUMNS
from analytics.assessment.models import Assessment
from analytics.assessment.schemas import (
    WEIGHT_KEYS,
    AssessmentCreate,
    AssessmentUpdate,
    ScoreCreate,
)
from frontend.i18n import request_language, translate
from frontend.pages.admin.access import ConsoleOrganisation, ConsoleRoute
from frontend.pages.admin.common import console_render
from service.db import SessionDep
from service.errors import Conflict, Invalid
from surveys.evaluation import service as evaluation
from surveys.evaluation.models import SubjectKind

router = APIRouter(route_class=ConsoleRoute)

CONFIG_FIELDS = (
    "year",
    "title",
    "kind",
    "weights",
    "public_campaign_ids",
    "evaluation_campaign_ids",
)
SCORE_FIELDS = ("subject_id", "source", "score", "ci_low", "ci_high", "source_text")
DONE = ("created", "updated", "finalised", "scored", "deleted", "imported")
MAX_UPLOAD = 1_000_000


def _errors(lang: str, exc: ValidationError | Invalid, fields: tuple[str, ...]) -> dict[str, str]:
    """A refused form's errors by field, in the page's language, with the reason given."""
    items = exc.errors() if isinstance(exc, ValidationError) else exc.errors
    errors: dict[str, str] = {}
    for err in items:
        loc = [str(part) for part in err["loc"]]
        field = next((part for part in loc if part in fields), "")
        if not field and isinstance(exc, ValidationError):
            # A check across fields (the interval must hold the score) names the interval.
            field = "ci_low" if "interval" in str(err["msg"]) else ""
        if field and field not in errors:
            errors[field] = translate(lang, f"assess.err.{field}") + f" ({err['msg']})"
    return errors


def _flash(request: Request) -> str:
    done = request.query_params.get("done", "")
    if done not in DONE:
        return ""
    n = request.query_params.get("n", "")
    return translate(request_language(request), f"assess.done.{done}", n=n)


def _config_form(a: Assessment | None) -> dict[str, Any]:
    if a is None:
        return {
            "year": "",
            "title": "",
            "kind": "team",
            "weights": {"public": "30", "evaluation": "30", "results": "25", "reform": "15"},
            "public_campaign_ids": [],
            "evaluation_campaign_ids": [],
        }
    c = a.config
    return {
        "year": str(a.year),
        "title": a.title,
        "kind": c["kind"],
        "weights": {k: f"{float(c['weights'].get(k, 0)):g}" for k in WEIGHT_KEYS},
        "public_campaign_ids": [str(i) for i in c["public_campaign_ids"]],
        "evaluation_campaign_ids": [str(i) for i in c["evaluation_campaign_ids"]],
    }


def _list_page(
    request: Request,
    session: Session,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    ctx: dict[str, Any] = {
        "section": "assessments",
        "assessments": service.list_assessments(session),
        "locked": False,
        "choices": service.campaign_choices(session),
        "form": form or _config_form(None),
        "errors": errors or {},
        "weight_keys": WEIGHT_KEYS,
        "kinds": [k.value for k in SubjectKind],
        "flash": _flash(request),
    }
    return console_render(request, "admin/assessments.html", ctx, status_code=status_code)


def _detail_page(
    request: Request,
    session: Session,
    assessment: Assessment,
    *,
    actor: str,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    score_form: dict[str, str] | None = None,
    score_errors: dict[str, str] | None = None,
    file_error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    kind = SubjectKind(assessment.config["kind"])
    ctx: dict[str, Any] = {
        "section": "assessments",
        "a": service.assessment_public(assessment),
        "locked": assessment.finalised_at is not None,
        "choices": service.campaign_choices(session),
        "subjects": evaluation.subjects(session, kind=kind, active=True),
        # Named subjects' scores: every showing of the page is an audited read.
        "scores": service.view_scores(session, assessment=assessment, actor=actor),
        "form": form or _config_form(assessment),
        "errors": errors or {},
        "score_form": score_form or {f: "" for f in SCORE_FIELDS},
        "score_errors": score_errors or {},
        "file_error": file_error,
        "weight_keys": WEIGHT_KEYS,
        "kinds": [k.value for k in SubjectKind],
        "columns": COLUMNS,
        "flash": _flash(request),
    }
    return console_render(request, "admin/assessment.html", ctx, status_code=status_code)


def _done(path: str, action: str, **params: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?{urlencode({'done': action, **params})}", 303)


def _posted_config(form: Any) -> dict[str, Any]:
    """The configuration fields of a posted form, as typed (kept to show again)."""
    return {
        "year": str(form.get("year", "")).strip(),
        "title": str(form.get("title", "")).strip(),
        "kind": str(form.get("kind", "")),
        "weights": {k: str(form.get(f"weight_{k}", "")).strip() for k in WEIGHT_KEYS},
        "public_campaign_ids": [str(v) for v in form.getlist("public_campaign_ids")],
        "evaluation_campaign_ids": [str(v) for v in form.getlist("evaluation_campaign_ids")],
    }


def _config_data(posted: dict[str, Any]) -> dict[str, Any]:
    """The posted configuration as the API's body; pydantic refuses what is not a number."""
    weights = {k: v for k, v in posted["weights"].items() if v != ""}
    return {
        "title": posted["title"],
        "kind": posted["kind"],
        "weights": weights,
        "public_campaign_ids": posted["public_campaign_ids"],
        "evaluation_campaign_ids": posted["evaluation_campaign_ids"],
    }


@router.get("/admin/assessments", response_class=HTMLResponse)
def assessments_page(
    request: Request, user: ConsoleOrganisation, session: SessionDep
) -> HTMLResponse:
    """The assessments and the form for a new one."""
    return _list_page(request, session)


@router.post("/admin/assessments", response_class=HTMLResponse)
async def create_assessment_page(
    request: Request, user: ConsoleOrganisation, session: SessionDep
) -> Response:
    """Create an assessment; a refused field is named beside it with the input kept."""
    posted = _posted_config(await request.form())
    lang = request_language(request)
    try:
        data = AssessmentCreate.model_validate({**_config_data(posted), "year": posted["year"]})
        row = service.create_assessment(session, data=data, actor=user.username)
    except (ValidationError, Invalid) as exc:
        errors = _errors(lang, exc, CONFIG_FIELDS)
        return _list_page(request, session, form=posted, errors=errors, status_code=422)
    except Conflict:
        errors = {"title": translate(lang, "assess.err.taken")}
        return _list_page(request, session, form=posted, errors=errors, status_code=409)
    return _done(f"/admin/assessments/{row.id}", "created")


@router.get("/admin/assessments/{assessment_id}", response_class=HTMLResponse)
def assessment_page(
    request: Request, user: ConsoleOrganisation, assessment: AssessmentById, session: SessionDep
) -> HTMLResponse:
    """An assessment: its configuration, the entered scores and the import."""
    return _detail_page(request, session, assessment, actor=user.username)


@router.post("/admin/assessments/{assessment_id}", response_class=HTMLResponse)
async def update_assessment_page(
    request: Request, user: ConsoleOrganisation, assessment: AssessmentById, session: SessionDep
) -> Response:
    """Save the title, weights and campaigns (refused once finalised)."""
    posted = _posted_config(await request.form())
    posted["year"] = str(assessment.year)
    lang = request_language(request)
    try:
        data = AssessmentUpdate.model_validate(_config_data(posted))
        service.update_assessment(session, assessment=assessment, data=data, actor=user.username)
    except (ValidationError, Invalid) as exc:
        errors = _errors(lang, exc, CONFIG_FIELDS)
        return _detail_page(
            request,
            session,
            assessment,
            actor=user.username,
            form=posted,
            errors=errors,
            status_code=422,
        )
    except Conflict:
        key = "assess.err.finalised" if assessment.finalised_at else "assess.err.taken"
        errors = {"title": translate(lang, key)}
        return _detail_page(
            request,
            session,
            assessment,
            actor=user.username,
            form=posted,
            errors=errors,
            status_code=409,
        )
    return _done(f"/admin/assessments/{assessment.id}", "updated")


@router.post("/admin/assessments/{assessment_id}/finalise", response_class=HTMLResponse)
def finalise_assessment_page(
    request: Request,
    user: ConsoleOrganisation,
    assessment: AssessmentById,
    session: SessionDep,
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Freeze the configuration and the scores once the box saying so is ticked."""
    if confirm != "1":
        errors = {"confirm": translate(request_language(request), "assess.err.confirm")}
        return _detail_page(
            request, session, assessment, actor=user.username, errors=errors, status_code=422
        )
    try:
        snapshot.finalise(
            session,
            assessment=assessment,
            actor=user.username,
            min_group_size=request.app.state.settings.min_group_size,
        )
    except Conflict as exc:
        lang = request_language(request)
        if exc.extra.get("reason") != "evaluations_open":
            raise
        # Said beside the box, with the evaluations named, the page otherwise as it was.
        ids = ", ".join(f"#{i}" for i in exc.extra.get("campaign_ids", []))
        errors = {"confirm": translate(lang, "assess.err.evaluations_open", ids=ids)}
        return _detail_page(
            request, session, assessment, actor=user.username, errors=errors, status_code=409
        )
    return _done(f"/admin/assessments/{assessment.id}", "finalised")


@router.post("/admin/assessments/{assessment_id}/scores", response_class=HTMLResponse)
def create_score_page(
    request: Request,
    user: ConsoleOrganisation,
    assessment: AssessmentById,
    session: SessionDep,
    subject_id: Annotated[str, Form(max_length=20)] = "",
    source: Annotated[str, Form(max_length=20)] = "",
    score: Annotated[str, Form(max_length=20)] = "",
    ci_low: Annotated[str, Form(max_length=20)] = "",
    ci_high: Annotated[str, Form(max_length=20)] = "",
    source_text: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Enter a subject's 实绩 or 改革 score; a refused field is named beside it."""
    lang = request_language(request)
    form = {
        "subject_id": subject_id,
        "source": source,
        "score": score.strip(),
        "ci_low": ci_low.strip(),
        "ci_high": ci_high.strip(),
        "source_text": source_text.strip(),
    }
    try:
        data = ScoreCreate.model_validate({k: (v or None) for k, v in form.items()})
        service.add_score(session, assessment=assessment, data=data, actor=user.username)
    except (ValidationError, Invalid) as exc:
        errors = _errors(lang, exc, SCORE_FIELDS)
        return _detail_page(
            request,
            session,
            assessment,
            actor=user.username,
            score_form=form,
            score_errors=errors,
            status_code=422,
        )
    except Conflict:
        key = "assess.err.finalised" if assessment.finalised_at else "assess.err.scored"
        errors = {"source": translate(lang, key)}
        return _detail_page(
            request,
            session,
            assessment,
            actor=user.username,
            score_form=form,
            score_errors=errors,
            status_code=409,
        )
    return _done(f"/admin/assessments/{assessment.id}", "scored")


@router.post(
    "/admin/assessments/{assessment_id}/scores/{score_id}/delete", response_class=HTMLResponse
)
def delete_score_page(
    request: Request,
    user: ConsoleOrganisation,
    assessment: AssessmentById,
    score_id: int,
    session: SessionDep,
) -> Response:
    """Remove an entered score (before finalisation)."""
    service.delete_score(session, assessment=assessment, score_id=score_id, actor=user.username)
    return _done(f"/admin/assessments/{assessment.id}", "deleted")


@router.post("/admin/assessments/{assessment_id}/scores/import", response_class=HTMLResponse)
def import_preview_page(
    request: Request,
    user: ConsoleOrganisation,
    assessment: AssessmentById,
    session: SessionDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Read an uploaded .xlsx or .csv and show every row with its problems; writes nothing."""
    lang = request_language(request)
    data = file.file.read(MAX_UPLOAD + 1) if file is not None else b""
    if len(data) > MAX_UPLOAD:
        message = translate(lang, "assess.import.too_big")
        return _detail_page(
            request, session, assessment, actor=user.username, file_error=message, status_code=422
        )
    try:
        rows = imports.read_scores_file(data)
    except Invalid as exc:
        message = translate(lang, "assess.import.unreadable", reason=exc.errors[0]["msg"])
        return _detail_page(
            request, session, assessment, actor=user.username, file_error=message, status_code=422
        )
    result = imports.preview_import(session, assessment=assessment, rows=rows)
    ctx: dict[str, Any] = {
        "section": "assessments",
        "a": service.assessment_public(assessment),
        "result": result,
        "bad_rows": sum(1 for r in result.rows if r.errors),
        "columns": COLUMNS,
        "rows_json": json.dumps(rows, ensure_ascii=False),
        "filename": (file.filename if file else "") or "",
    }
    return console_render(request, "admin/assessment_import.html", ctx)


@router.post(
    "/admin/assessments/{assessment_id}/scores/import/confirm", response_class=HTMLResponse
)
def import_confirm_page(
    request: Request,
    user: ConsoleOrganisation,
    assessment: AssessmentById,
    session: SessionDep,
    rows: Annotated[str, Form(max_length=MAX_UPLOAD * 4)] = "",
    filename: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Write the previewed rows, all or none; if anything changed since, the page again."""
    lang = request_language(request)
    try:
        parsed = json.loads(rows)
        if not isinstance(parsed, list) or not all(
            isinstance(r, dict) and all(isinstance(v, str) for v in r.values()) for r in parsed
        ):
            raise ValueError("not rows")
        parsed = [{c: r.get(c, "") for c in COLUMNS} for r in parsed]
        result = imports.commit_import(
            session, assessment=assessment, rows=parsed, actor=user.username, file=filename
        )
    except (ValueError, Invalid):
        message = translate(lang, "assess.import.again")
        return _detail_page(
            request, session, assessment, actor=user.username, file_error=message, status_code=422
        )
    return _done(f"/admin/assessments/{assessment.id}", "imported", n=str(result.imported))
