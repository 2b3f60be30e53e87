"""Questionnaires: the list (versions, questions, the campaigns using each), XLSForm upload and
download, and the builder (``/admin/surveys/new``, ``/admin/surveys/{id}``) with its live preview.

Every write goes through ``surveys.forms.authoring``, which the API calls too (so both write the
same audit entries); the definition is validated by the API's own ``SurveyCreate``. Saving a
questionnaire that already has responses makes a new version, as the API's PUT does.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from frontend.i18n import request_language, translate
from frontend.pages.admin import survey_builder as builder
from frontend.pages.admin.access import ConsoleAdmin, ConsoleRoute
from frontend.pages.admin.common import console_render
from service.db import SessionDep
from service.errors import AppError, Invalid
from surveys.forms import authoring, imports, isolated, service
from surveys.forms.dependencies import FormCacheDep, SurveyById
from surveys.forms.models import Survey

router = APIRouter(route_class=ConsoleRoute)
DONE = ("created", "saved", "versioned", "imported")
Text = Annotated[str, Form(max_length=5000)]


def _flash(request: Request) -> str:
    params = request.query_params
    done = params.get("done", "")
    if done not in DONE:
        return ""
    return translate(request_language(request), f"admin.surveys.done.{done}", v=params.get("v", ""))


def _upload_errors(lang: str, errors: list[dict[str, Any]]) -> list[str]:
    """An import's refusal, one line per bad row naming the sheet, row and column."""
    lines = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", [])]
        if "sheet" in err:
            column = loc[2] if len(loc) > 2 else ""
            where = translate(
                lang,
                "admin.surveys.upload.where",
                sheet=err["sheet"],
                row=err["row"],
                column=column,
            )
            lines.append(f"{where}{err['msg']}")
        else:
            lines.append(translate(lang, "admin.surveys.upload.not_xlsx"))
    return lines


def _list_page(
    request: Request,
    session: Session,
    *,
    upload_errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    ctx = {
        "section": "surveys",
        "surveys": service.list_surveys(session),
        "campaigns": authoring.campaigns_by_survey(session),
        "upload_errors": upload_errors or [],
        "flash": _flash(request),
    }
    return console_render(request, "admin/surveys.html", ctx, status_code=status_code)


def _done(survey: Survey, done: str) -> RedirectResponse:
    query = urlencode({"done": done, "v": survey.version})
    return RedirectResponse(f"/admin/surveys/{survey.id}?{query}", status_code=303)


@router.get("/admin/surveys", response_class=HTMLResponse)
def surveys_page(request: Request, admin: ConsoleAdmin, session: SessionDep) -> HTMLResponse:
    """Every questionnaire version, the campaigns using it, XLSForm upload and downloads."""
    return _list_page(request, session)


@router.post("/admin/surveys/import", response_class=HTMLResponse)
async def import_survey_page(
    request: Request, admin: ConsoleAdmin, session: SessionDep
) -> Response:
    """Create a questionnaire from an XLSForm workbook; every bad row is named on the page."""
    lang = request_language(request)
    try:
        body, filename, _type = await imports.read_request(request, "the .xlsx workbook")
        if not body:
            raise Invalid.field(("body", "file"), "attach the .xlsx workbook as 'file'")
        data = await run_in_threadpool(isolated.import_xlsform, body)
    except Invalid as exc:
        errors = _upload_errors(lang, exc.errors)
        return await run_in_threadpool(
            _list_page, request, session, upload_errors=errors, status_code=422
        )
    except AppError as exc:
        if exc.status_code != 413:
            raise
        errors = [translate(lang, "admin.surveys.upload.too_large")]
        return await run_in_threadpool(
            _list_page, request, session, upload_errors=errors, status_code=413
        )
    survey = await run_in_threadpool(
        lambda: authoring.import_survey_as(
            session, actor=admin.username, data=data, filename=filename
        )
    )
    return _done(survey, "imported")


def _builder_page(
    request: Request,
    session: Session,
    *,
    survey: Survey | None,
    titles: dict[str, str],
    questions: list[Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    lang = request_language(request)
    has_responses = survey is not None and (
        survey.frozen or service.survey_has_responses(session, survey_id=survey.id or 0)
    )
    campaigns = authoring.campaigns_by_survey(session)
    ctx = {
        "section": "surveys",
        "survey": survey,
        "titles": titles,
        "questions": questions,
        "definition": builder.definition_json(questions),
        "errors": errors or {},
        "items": builder.preview_items(lang, questions),
        "types": builder.QUESTION_TYPES,
        **builder.script_words(lang),
        "has_responses": has_responses,
        "versions": authoring.versions_of(session, survey=survey) if survey else [],
        "campaigns": campaigns,
        "flash": _flash(request),
    }
    return console_render(request, "admin/surveys_builder.html", ctx, status_code=status_code)


def _stored(session: Session, survey: Survey) -> tuple[dict[str, str], list[Any]]:
    public = service.survey_public(session, survey=survey)
    titles = {"title": public.title, "title_en": public.title_en, "description": public.description}
    questions = [
        q.model_dump(mode="json", exclude={"position"}, exclude_none=True) for q in public.questions
    ]
    return titles, questions


@router.post("/admin/surveys/preview", response_class=HTMLResponse)
def preview_survey_page(
    request: Request, admin: ConsoleAdmin, definition: Annotated[str, Form(max_length=500_000)] = ""
) -> HTMLResponse:
    """The questions as residents will see them, drawn by the resident form's own template."""
    lang = request_language(request)
    questions = builder.raw_questions(definition) or []
    ctx = {"items": builder.preview_items(lang, questions)}
    return console_render(request, "admin/surveys_preview.html", ctx)


@router.get("/admin/surveys/new", response_class=HTMLResponse)
def new_survey_page(request: Request, admin: ConsoleAdmin, session: SessionDep) -> HTMLResponse:
    """The builder, empty."""
    titles = {"title": "", "title_en": "", "description": ""}
    return _builder_page(request, session, survey=None, titles=titles, questions=[])


def _save(
    request: Request,
    session: Session,
    admin: ConsoleAdmin,
    cache: FormCacheDep,
    survey: Survey | None,
    titles: dict[str, str],
    definition: str,
) -> Response:
    lang = request_language(request)
    titles = {k: v.strip() for k, v in titles.items()}
    posted = builder.read_definition(lang, titles, definition)
    if posted.data is None:
        return _builder_page(
            request,
            session,
            survey=survey,
            titles=titles,
            questions=posted.questions,
            errors=posted.errors,
            status_code=422,
        )
    if survey is None:
        created = authoring.create_survey_as(session, actor=admin.username, data=posted.data)
        return _done(created, "created")
    edited, new_version = authoring.update_survey_as(
        session, actor=admin.username, survey=survey, data=posted.data
    )
    cache.invalidate()
    return _done(edited, "versioned" if new_version else "saved")


@router.post("/admin/surveys/new", response_class=HTMLResponse)
def create_survey_page(
    request: Request,
    admin: ConsoleAdmin,
    session: SessionDep,
    cache: FormCacheDep,
    title: Text = "",
    title_en: Text = "",
    description: Text = "",
    definition: Annotated[str, Form(max_length=500_000)] = "",
) -> Response:
    """Create a questionnaire from the builder; what is wrong is named beside its question."""
    titles = {"title": title, "title_en": title_en, "description": description}
    return _save(request, session, admin, cache, None, titles, definition)


@router.get("/admin/surveys/{survey_id}", response_class=HTMLResponse)
def survey_page(
    request: Request, admin: ConsoleAdmin, survey: SurveyById, session: SessionDep
) -> HTMLResponse:
    """The builder on a stored questionnaire, with its versions and the campaigns using them."""
    titles, questions = _stored(session, survey)
    return _builder_page(request, session, survey=survey, titles=titles, questions=questions)


@router.post("/admin/surveys/{survey_id}", response_class=HTMLResponse)
def update_survey_page(
    request: Request,
    admin: ConsoleAdmin,
    survey: SurveyById,
    session: SessionDep,
    cache: FormCacheDep,
    title: Text = "",
    title_en: Text = "",
    description: Text = "",
    definition: Annotated[str, Form(max_length=500_000)] = "",
) -> Response:
    """Save the builder: in place while there are no responses, else as a new version."""
    titles = {"title": title, "title_en": title_en, "description": description}
    return _save(request, session, admin, cache, survey, titles, definition)
