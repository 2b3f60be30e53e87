"""The console's projects: /admin/projects.

The list shows each project's status, budget, sponsor and area and the voting sessions whose
slate holds it. A project is created from an empty form, or from a proposal: the queue's
"shortlist" opens the same form pre-filled from the proposal (``?proposal=``), and saving it
turns the proposal into the project. A project's page edits it and reports its progress (date,
percent, text), which the public /projects page shows. Every write calls the service the API
uses (``surveys.voting.projects`` and ``proposals``), which audits it; a refused form comes
back with each error beside its field and the input kept (422, or 409 for a conflict)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from frontend.i18n import request_language, translate
from frontend.pages.admin.access import ConsoleAdmin, ConsoleRoute
from frontend.pages.admin.common import console_render
from service.db import SessionDep
from service.errors import Conflict, Invalid
from surveys.units.service import list_units
from surveys.voting import projects, proposals
from surveys.voting.dependencies import valid_project_id
from surveys.voting.models import (
    CATEGORIES,
    Project,
    ProjectCreate,
    ProjectEdit,
    ProjectStatus,
    ProjectUpdateCreate,
    Proposal,
    ProposalStatus,
    SessionState,
    VotingSession,
)

router = APIRouter(route_class=ConsoleRoute)

FIELDS = (
    "title",
    "title_en",
    "description",
    "description_en",
    "category",
    "budget",
    "sponsor_unit_code",
    "area_code",
    "status",
)
PROGRESS_FIELDS = ("date", "percent_done", "note")
DONE = ("created", "shortlisted", "saved", "progress")
ProjectByPath = Annotated[Project, Depends(valid_project_id)]


async def _form_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields (async here, so the routes themselves stay sync)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormFields = Annotated[dict[str, str], Depends(_form_fields)]


def _in_sessions(found: list[VotingSession]) -> list[dict[str, str]]:
    """The sessions a project is in, as the page shows them: title and state."""
    return [{"title": vs.title, "state": SessionState(vs.state).value} for vs in found]


def _flash(request: Request) -> str:
    done = request.query_params.get("done", "")
    lang = request_language(request)
    return translate(lang, f"admin.projects.done.{done}") if done in DONE else ""


@router.get("/admin/projects", response_class=HTMLResponse)
def projects_page(
    request: Request, admin: ConsoleAdmin, session: SessionDep, status: str = ""
) -> Response:
    """Every project (optionally of one status), newest first, with the sessions it is in."""
    wanted = ProjectStatus(status) if status in ProjectStatus.__members__ else None
    listed = projects.list_projects(session, statuses=[wanted] if wanted else None)
    in_sessions = projects.sessions_by_project(session, [p.id for p in listed])
    ctx = {
        "section": "projects",
        "rows": [{"p": p, "sessions": _in_sessions(in_sessions.get(p.id, []))} for p in listed],
        "status": wanted.value if wanted else "",
        "statuses": [s.value for s in ProjectStatus],
        "flash": _flash(request),
    }
    return console_render(request, "admin/projects.html", ctx)


def _form_page(
    request: Request,
    session: Session,
    *,
    form: dict[str, str],
    errors: dict[str, str] | None = None,
    project: Project | None = None,
    proposal: Proposal | None = None,
    progress: dict[str, str] | None = None,
    progress_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The new-project form, or a project's page (its form, its progress reports)."""
    ctx: dict[str, Any] = {
        "section": "projects",
        "form": form,
        "errors": errors or {},
        "project": project,
        "proposal": proposal,
        "categories": CATEGORIES,
        "units": list_units(session),
        "statuses": [s.value for s in ProjectStatus],
        "flash": _flash(request),
    }
    if project is None:
        return console_render(request, "admin/project_form.html", ctx, status_code=status_code)
    ctx |= {
        "public": projects.project_public(session, project=project),
        "sessions": _in_sessions(projects.sessions_of(session, project)),
        "sources": [
            {"p": p, "state": ProposalStatus(p.status).value}
            for p in proposals.proposals_of_project(session, project_id=project.id or 0)
        ],
        "progress": progress or {},
        "progress_errors": progress_errors or {},
        "can_report": project.status in projects.IMPLEMENTATION,
    }
    return console_render(request, "admin/project_detail.html", ctx, status_code=status_code)


def _as_form(values: dict[str, Any]) -> dict[str, str]:
    return {k: "" if values.get(k) is None else str(values[k]) for k in FIELDS}


def _shortlistable(session: Session, raw: str) -> Proposal | None:
    """The proposal a new project is made from (by id), if it may still become one."""
    proposal = session.get(Proposal, int(raw)) if raw.isdigit() else None
    if proposal is None or proposal.status == ProposalStatus.shortlisted:
        return None
    return proposal


@router.get("/admin/projects/new", response_class=HTMLResponse)
def new_project_page(
    request: Request, admin: ConsoleAdmin, session: SessionDep, proposal: str = ""
) -> Response:
    """The form for a new project; from a proposal, pre-filled with its title, description,
    category, area and rough cost."""
    source = _shortlistable(session, proposal)
    if proposal and source is None:
        return RedirectResponse("/admin/proposals", 303)  # unknown, or already a project
    values = proposals.project_draft(session, proposal=source) if source else {}
    return _form_page(request, session, form=_as_form(values), proposal=source)


def _field_errors(lang: str, exc: ValidationError | Invalid) -> dict[str, str]:
    """Each refused field's message in the page's language."""
    items = exc.errors() if isinstance(exc, ValidationError) else exc.errors
    errors: dict[str, str] = {}
    for item in items:
        field = str(item["loc"][-1]) if item["loc"] else "form"
        errors.setdefault(field, translate(lang, f"admin.projects.error.{field}"))
    return errors


def _budget(kept: dict[str, str], lang: str, errors: dict[str, str]) -> int | None:
    raw = kept["budget"].replace(",", "").strip()
    if raw and not raw.isdigit():
        errors["budget"] = translate(lang, "admin.projects.error.budget")
    return int(raw) if raw.isdigit() else None


@router.post("/admin/projects/new", response_class=HTMLResponse)
def create_project_page(
    request: Request, admin: ConsoleAdmin, session: SessionDep, form: FormFields
) -> Response:
    """Create the project (audited); from a proposal, the proposal becomes this project."""
    lang = request_language(request)
    kept = {k: form.get(k, "").strip() for k in FIELDS}
    source_id = form.get("proposal", "")
    source = _shortlistable(session, source_id)
    errors: dict[str, str] = {}
    budget = _budget(kept, lang, errors)
    status_code = 422
    if source_id and source is None:
        errors["form"] = translate(lang, "admin.projects.error.shortlisted")
        status_code = 409
    project = None
    if not errors:
        try:
            data = ProjectCreate(
                **{k: kept[k] for k in FIELDS if k not in ("budget", "status", "area_code")},
                budget=budget,  # type: ignore[arg-type]  # None is refused with the field named
                area_code=kept["area_code"] or None,
            )
            if source is not None:
                project = proposals.shortlist_proposal(
                    session, proposal=source, data=data, actor=admin.username
                )
            else:
                project = projects.create_project(session, data=data, actor=admin.username)
        except (ValidationError, Invalid) as exc:
            errors = _field_errors(lang, exc)
        except Conflict:
            errors["form"] = translate(lang, "admin.projects.error.shortlisted")
            status_code = 409
    if project is None:
        session.rollback()  # nothing of a refused form is kept
        return _form_page(
            request, session, form=kept, errors=errors, proposal=source, status_code=status_code
        )
    done = "shortlisted" if source is not None else "created"
    return RedirectResponse(f"/admin/projects/{project.id}?done={done}", 303)


def _project_form(session: Session, project: Project) -> dict[str, str]:
    public = projects.project_public(session, project=project)
    values = public.model_dump() | {"status": ProjectStatus(project.status).value}
    return _as_form(values)


@router.get("/admin/projects/{project_id}", response_class=HTMLResponse)
def project_page(
    request: Request, admin: ConsoleAdmin, project: ProjectByPath, session: SessionDep
) -> Response:
    """One project: its form, the sessions it is in, its progress reports and the form to add
    one."""
    return _form_page(request, session, form=_project_form(session, project), project=project)


@router.post("/admin/projects/{project_id}", response_class=HTMLResponse)
def update_project_page(
    request: Request,
    admin: ConsoleAdmin,
    project: ProjectByPath,
    session: SessionDep,
    form: FormFields,
) -> Response:
    """Save the project's fields (the service audits what changed)."""
    lang = request_language(request)
    kept = {k: form.get(k, "").strip() for k in FIELDS}
    errors: dict[str, str] = {}
    budget = _budget(kept, lang, errors)
    status_code = 422
    if not errors:
        try:
            texts = {k: kept[k] for k in FIELDS if k not in ("budget", "status")}
            data = ProjectEdit(**texts, budget=budget, status=kept["status"] or None)  # type: ignore[arg-type]
            projects.update_project(session, project=project, data=data, actor=admin.username)
        except (ValidationError, Invalid) as exc:
            errors = _field_errors(lang, exc)
        except Conflict:
            errors["form"] = translate(lang, "admin.projects.error.frozen")
            status_code = 409
    if errors:
        session.rollback()
        return _form_page(
            request, session, form=kept, errors=errors, project=project, status_code=status_code
        )
    return RedirectResponse(f"/admin/projects/{project.id}?done=saved", 303)


@router.post("/admin/projects/{project_id}/updates", response_class=HTMLResponse)
def add_progress_page(
    request: Request,
    admin: ConsoleAdmin,
    project: ProjectByPath,
    session: SessionDep,
    form: FormFields,
) -> Response:
    """Report progress (date, percent done, text); the project's status follows."""
    lang = request_language(request)
    kept = {k: form.get(k, "").strip() for k in PROGRESS_FIELDS}
    errors: dict[str, str] = {}
    status_code = 422
    try:
        data = ProjectUpdateCreate(
            date=kept["date"],  # type: ignore[arg-type]  # parsed (or refused) by the schema
            percent_done=kept["percent_done"],  # type: ignore[arg-type]
            note=kept["note"],
        )
        projects.add_progress(session, project=project, data=data, actor=admin.username)
    except ValidationError as exc:
        for item in exc.errors():
            field = str(item["loc"][-1]) if item["loc"] else "date"
            errors.setdefault(field, translate(lang, f"admin.projects.error.progress_{field}"))
    except Conflict:
        errors["progress"] = translate(lang, "admin.projects.error.not_selected")
        status_code = 409
    if errors:
        session.rollback()
        return _form_page(
            request,
            session,
            form=_project_form(session, project),
            project=project,
            progress=kept,
            progress_errors=errors,
            status_code=status_code,
        )
    return RedirectResponse(f"/admin/projects/{project.id}?done=progress#progress", 303)
