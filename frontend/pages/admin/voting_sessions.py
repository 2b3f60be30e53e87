"""The console's voting sessions: /admin/voting-sessions.

A list (title, state, window, turnout) and a form to create a draft from the candidate
projects, with the rule and its plain-language preview (computed on the server by
``sessions.rule_preview``; ``admin_voting.js`` asks ``POST /api/v1/voting-rules/preview`` as the
form is filled in). A session's page shows its rule in words, its electorate (chosen from the
active deputy accounts or imported from CSV/XLSX) and its live turnout, polled from
``GET /api/v1/voting-sessions/{id}/turnout``. Opening, closing and publishing each go through a
confirmation page; a refusal (no electorate, wrong state) is a 409 page naming the reason.
Every write calls the service function the API calls, which audits it."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from frontend.i18n import request_language, translate
from frontend.pages.admin import voting_close
from frontend.pages.admin.access import ConsoleAdmin, ConsoleRoute
from frontend.pages.admin.common import console_render
from frontend.pages.admin.voting_forms import (
    THRESHOLD_KINDS,
    Posted,
    kept_fields,
    session_body,
    usernames_from_file,
    validation_errors,
)
from frontend.pages.admin.voting_refusals import reason_key
from service.db import SessionDep
from service.errors import Conflict, Invalid
from surveys.voting import ballots, projects, runoff, sessions
from surveys.voting.dependencies import ScrubAfterCommit, valid_session_id
from surveys.voting.models import (
    SessionCreate,
    SessionKind,
    SessionState,
    SessionUpdate,
    VotingSession,
)
from surveys.voting.schemas import SelectionResult, parse_result

router = APIRouter(route_class=ConsoleRoute)

BASE = "/admin/voting-sessions"
ACTIONS = ("open", "close", "publish", "runoff", "delete")
DONE = ("created", "saved", "electorate", *ACTIONS)
VotingSessionByPath = Annotated[VotingSession, Depends(valid_session_id)]


def _state(vs: VotingSession) -> str:
    return SessionState(vs.state).value


def _lang_text(request: Request, pair: tuple[str, str]) -> str:
    return pair[1] if request_language(request) == "en" else pair[0]


@router.get(BASE, response_class=HTMLResponse)
def sessions_page(request: Request, admin: ConsoleAdmin, session: SessionDep) -> Response:
    """Every voting session, newest first, with its state, window and turnout."""
    rows = [
        {"vs": vs, "state": _state(vs), "turnout": ballots.turnout(session, vs=vs)}
        for vs in sessions.list_sessions(session)
    ]
    done = request.query_params.get("done", "")
    ctx = {
        "section": "voting-sessions",
        "rows": rows,
        "flash": translate(request_language(request), f"admin.voting.done.{done}")
        if done in DONE
        else "",
    }
    return console_render(request, "admin/voting_sessions.html", ctx)


# --- the session form (create, or edit a draft) ---------------------------------------------


def _form_page(
    request: Request,
    session: Session,
    *,
    form: dict[str, Any],
    vs: VotingSession | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The session form with the project list, the running total and the rule in words."""
    listed = projects.list_projects(session)
    chosen = {int(i) for i in form["project_ids"]}
    electorate = ballots.electorate_size(session, vs) if vs is not None else 0
    body, _ = session_body(form, request_language(request))
    preview = ""
    try:
        preview = _lang_text(
            request,
            sessions.rule_preview(
                kind=SessionKind(body["kind"]),
                budget_cap=body["budget_cap"],
                threshold=body["threshold"],
                on_no_fit=body["on_no_fit"],
                max_selected=body["max_selected"],
                max_for_per_ballot=body["max_for_per_ballot"],
                electorate=electorate,
            ),
        )
    except (Invalid, ValueError):
        preview = ""  # the threshold's field says what is wrong
    ctx = {
        "section": "voting-sessions",
        "vs": vs,
        "form": form,
        "errors": errors or {},
        "projects": listed,
        "chosen": chosen,
        "total": sum(p.budget for p in listed if p.id in chosen),
        "threshold_kinds": THRESHOLD_KINDS,
        "electorate": electorate,
        "preview": preview,
    }
    return console_render(request, "admin/voting_session_form.html", ctx, status_code=status_code)


def _blank_form() -> dict[str, Any]:
    return {
        "kind": "selection",
        "title": "",
        "title_en": "",
        "year": "",
        "budget_cap": "",
        "threshold_kind": "majority_of_all",
        "threshold_value": "",
        "max_selected": "",
        "max_for_per_ballot": "",
        "on_no_fit": "skip",
        "on_tie": "rule",
        "project_ids": [],
    }


def _form_of(vs: VotingSession, project_ids: list[int]) -> dict[str, Any]:
    """A saved session as its form shows it."""
    form = _blank_form()
    threshold = vs.threshold
    kind, value = (threshold, "") if isinstance(threshold, str) else next(iter(threshold.items()))
    form.update(
        kind=SessionKind(vs.kind).value,
        title=vs.title,
        title_en=vs.title_en,
        year=str(vs.year),
        budget_cap=str(vs.budget_cap),
        threshold_kind=kind,
        threshold_value=str(value),
        max_selected="" if vs.max_selected is None else str(vs.max_selected),
        max_for_per_ballot="" if vs.max_for_per_ballot is None else str(vs.max_for_per_ballot),
        on_no_fit=vs.on_no_fit,
        on_tie=vs.on_tie,
        project_ids=[str(i) for i in project_ids],
    )
    return form


@router.get(BASE + "/new", response_class=HTMLResponse)
def new_session_page(request: Request, admin: ConsoleAdmin, session: SessionDep) -> Response:
    """The form to create a draft session from the candidate projects."""
    return _form_page(request, session, form=_blank_form())


@router.post(BASE, response_class=HTMLResponse)
def create_session_page(
    request: Request, admin: ConsoleAdmin, session: SessionDep, posted: Posted
) -> Response:
    """Create a draft (``sessions.create_session``); a refused field is named beside it."""
    lang = request_language(request)
    form = kept_fields(posted)
    body, errors = session_body(form, lang)
    try:
        data = SessionCreate.model_validate(body)
    except ValidationError as exc:  # every refused field at once, with those read above
        errors = {**validation_errors(exc, lang), **errors}
    else:
        if not errors:
            try:
                vs = sessions.create_session(session, data=data, actor=admin.username)
                return RedirectResponse(f"{BASE}/{vs.id}?done=created", 303)
            except Invalid as exc:
                errors = validation_errors(exc, lang)
    session.rollback()  # nothing of a refused form is kept
    return _form_page(request, session, form=form, errors=errors, status_code=422)


# --- one session ----------------------------------------------------------------------------


def _result_rows(session: Session, vs: VotingSession) -> tuple[str, list[Any], Any]:
    """The kind, counted rows and result of a closed session, with its run-off rounds: the
    console shows the count itself before it is published (the public /results page exists
    only after)."""
    if vs.result is None:
        return "", [], None
    result = runoff.with_rounds(session, vs=vs, result=parse_result(vs.result))
    kind = "selection" if isinstance(result, SelectionResult) else "satisfaction"
    return kind, list(result.projects), result


def _runoff_context(session: Session, vs: VotingSession, result: Any) -> dict[str, Any]:
    """What the page says of run-offs: the tie awaiting one, the rounds, the first round."""
    selection = isinstance(result, SelectionResult)
    waiting = selection and runoff.awaits_runoff(result)
    blocking = runoff.blocking_round(session, vs) if waiting else None
    return {
        "cut_tie": result.cut_tie if selection else None,
        "rounds": result.rounds if selection else [],
        "runoffs": runoff.runoffs_of(session, vs),
        "blocking": blocking,
        "can_runoff": waiting and vs.state == SessionState.closed and blocking is None,
        "runoff_of": runoff.root_of(session, vs) if vs.runoff_of_id is not None else None,
    }


@router.get(BASE + "/{session_id}", response_class=HTMLResponse)
def session_page(
    request: Request, admin: ConsoleAdmin, vs: VotingSessionByPath, session: SessionDep
) -> Response:
    """A session: its slate and rule in words, electorate, live turnout and next step."""
    public = sessions.session_public(session, vs=vs)
    done = request.query_params.get("done", "")
    result_kind, result_rows, result = _result_rows(session, vs)
    preview = sessions.session_rule_preview(session, vs=vs)
    if vs.runoff_of_id is not None:
        preview = runoff.round_preview(vs, len(public.projects))
    ctx = {
        "section": "voting-sessions",
        "vs": public,
        "state": _state(vs),
        "total": sum(p.budget for p in public.projects),
        "preview": _lang_text(request, preview),
        "turnout": ballots.turnout(session, vs=vs),
        "deputies": sessions.electorate_usernames(session, vs=vs),
        "result_kind": result_kind,
        "result_rows": result_rows,
        **_runoff_context(session, vs, result),
        "flash": translate(request_language(request), f"admin.voting.done.{done}")
        if done in DONE
        else "",
    }
    return console_render(request, "admin/voting_session.html", ctx)


@router.get(BASE + "/{session_id}/edit", response_class=HTMLResponse)
def edit_session_page(
    request: Request, admin: ConsoleAdmin, vs: VotingSessionByPath, session: SessionDep
) -> Response:
    """The form of a draft session, filled in."""
    slate = [p.project_id for p in sessions.session_public(session, vs=vs).projects]
    return _form_page(request, session, form=_form_of(vs, slate), vs=vs)


@router.post(BASE + "/{session_id}/edit", response_class=HTMLResponse)
def update_session_page(
    request: Request,
    admin: ConsoleAdmin,
    vs: VotingSessionByPath,
    session: SessionDep,
    posted: Posted,
) -> Response:
    """Save a draft (``sessions.update_session``; 409 page once it is open)."""
    lang = request_language(request)
    form = kept_fields(posted)
    body, errors = session_body(form, lang)
    body.pop("kind")  # a session's kind is chosen once, at creation
    if body.get("mode", vs.mode) != vs.mode and body.get("quorum") == vs.quorum:
        # The form shows the saved quorum: left as it was, a mode change resets its default.
        body.pop("quorum")
    try:
        data = SessionUpdate.model_validate(body)
    except ValidationError as exc:
        errors = {**validation_errors(exc, lang), **errors}
    else:
        if not errors:
            try:
                sessions.update_session(session, vs=vs, data=data, actor=admin.username)
                return RedirectResponse(f"{BASE}/{vs.id}?done=saved", 303)
            except Invalid as exc:
                errors = validation_errors(exc, lang)
            except Conflict as exc:
                session.rollback()
                return _refused(request, session, vs, "edit", exc)
    session.rollback()
    return _form_page(request, session, form=form, vs=vs, errors=errors, status_code=422)


# --- the electorate -------------------------------------------------------------------------


def _electorate_page(
    request: Request,
    session: Session,
    vs: VotingSession,
    *,
    selected: list[str] | None = None,
    unknown: list[str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    q = request.query_params.get("q", "").strip()
    listed = sessions.active_deputies(session, q=q)
    chosen = selected if selected is not None else sessions.electorate_usernames(session, vs=vs)
    if request.query_params.get("all") == "1":
        chosen = sorted({*chosen, *(u.username for u in listed)})
    shown = {u.username for u in listed}
    ctx = {
        "section": "voting-sessions",
        "vs": vs,
        "state": _state(vs),
        "q": q,
        "deputies": listed,
        "chosen": set(chosen),
        "hidden": [n for n in chosen if n not in shown],  # chosen, but outside the search
        "count": len(chosen),
        "unknown": unknown or [],
        "error": error,
    }
    return console_render(request, "admin/voting_electorate.html", ctx, status_code=status_code)


@router.get(BASE + "/{session_id}/electorate", response_class=HTMLResponse)
def electorate_page(
    request: Request, admin: ConsoleAdmin, vs: VotingSessionByPath, session: SessionDep
) -> Response:
    """Choose the electorate from the active deputy accounts (search, select all), or import."""
    return _electorate_page(request, session, vs)


def _save_electorate(
    request: Request, session: Session, vs: VotingSession, names: list[str], actor: str
) -> Response:
    """Save an electorate through ``sessions.update_session``; nothing is saved when any
    username is refused, and every refused one is named."""
    lang = request_language(request)
    if not names:
        error = translate(lang, "admin.voting.error.electorate_empty")
        return _electorate_page(request, session, vs, selected=[], error=error, status_code=422)
    try:
        data = SessionUpdate(deputy_usernames=names)
        sessions.update_session(session, vs=vs, data=data, actor=actor)
    except Invalid as exc:
        session.rollback()
        unknown = [
            names[int(e["loc"][-1])] for e in exc.errors if str(e["loc"][-1]).isdigit()
        ] or names
        error = translate(lang, "admin.voting.error.electorate_unknown", n=len(unknown))
        return _electorate_page(
            request, session, vs, selected=[], unknown=unknown, error=error, status_code=422
        )
    except Conflict as exc:
        session.rollback()
        return _refused(request, session, vs, "electorate", exc)
    return RedirectResponse(f"{BASE}/{vs.id}?done=electorate", 303)


@router.post(BASE + "/{session_id}/electorate", response_class=HTMLResponse)
def save_electorate_page(
    request: Request,
    admin: ConsoleAdmin,
    vs: VotingSessionByPath,
    session: SessionDep,
    posted: Posted,
) -> Response:
    """Save the ticked deputies as the electorate."""
    names = list(dict.fromkeys(n.strip() for n in posted.get("deputy", []) if n.strip()))
    return _save_electorate(request, session, vs, names, admin.username)


@router.post(BASE + "/{session_id}/electorate/import", response_class=HTMLResponse)
def import_electorate_page(
    request: Request,
    admin: ConsoleAdmin,
    vs: VotingSessionByPath,
    session: SessionDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Import the electorate from a CSV or XLSX list of usernames (first column)."""
    lang = request_language(request)
    try:
        if file is None or not file.filename:
            raise ValueError("no file")
        names = usernames_from_file(file.filename, file.file.read(2_000_001))
    except ValueError:
        error = translate(lang, "admin.voting.error.file")
        return _electorate_page(request, session, vs, error=error, status_code=422)
    return _save_electorate(request, session, vs, names, admin.username)


# --- open, close, publish -------------------------------------------------------------------


def _refused(
    request: Request, session: Session, vs: VotingSession, action: str, exc: Conflict
) -> HTMLResponse:
    """The 409 page: what was refused and why, with the way back."""
    session.refresh(vs)
    lang = request_language(request)
    ctx = {
        "section": "voting-sessions",
        "vs": vs,
        "action": action,
        "reason": translate(
            lang,
            f"admin.voting.refused.{reason_key(exc)}",
            state=translate(lang, f"admin.voting.state.{_state(vs)}"),
            message=exc.message,
            **{k: exc.extra.get(k, "") for k in ("seated", "present", "quorum_required")},
        ),
    }
    return console_render(request, "admin/voting_refused.html", ctx, status_code=409)


@router.get(BASE + "/{session_id}/{action}", response_class=HTMLResponse)
def confirm_page(
    request: Request,
    admin: ConsoleAdmin,
    vs: VotingSessionByPath,
    action: str,
    session: SessionDep,
) -> Response:
    """The confirmation step of opening, closing or publishing."""
    if action not in ACTIONS:
        return RedirectResponse(f"{BASE}/{vs.id}", 303)
    ctx = {
        "section": "voting-sessions",
        "vs": vs,
        "action": action,
        "state": _state(vs),
        "turnout": ballots.turnout(session, vs=vs),
        **voting_close.confirm_context(session, vs),
    }
    return console_render(request, "admin/voting_confirm.html", ctx)


@router.post(BASE + "/{session_id}/{action}", response_class=HTMLResponse)
def act_page(
    request: Request,
    admin: ConsoleAdmin,
    vs: VotingSessionByPath,
    action: str,
    session: SessionDep,
    scrub: ScrubAfterCommit,
    posted: Posted,
) -> Response:
    """Open, close or publish (the service freezes, counts or publishes, and audits); a hall
    vote's close names its scrutineers, refused beside the field (422)."""
    if action not in ACTIONS:
        return RedirectResponse(f"{BASE}/{vs.id}", 303)
    if action == "runoff":
        try:
            child = runoff.start_runoff(session, vs=vs, actor=admin.username)
        except Conflict as exc:
            session.rollback()
            return _refused(request, session, vs, action, exc)
        return RedirectResponse(f"{BASE}/{child.id}?done=runoff", 303)
    if action == "delete":
        try:
            sessions.delete_session(session, vs=vs, actor=admin.username)
        except Conflict as exc:
            session.rollback()
            return _refused(request, session, vs, action, exc)
        return RedirectResponse(f"{BASE}?done=delete", 303)
    step = {
        "open": sessions.open_session,
        "close": sessions.close_session,
        "publish": sessions.publish_session,
    }[action]
    try:
        names = {"scrutineers": voting_close.posted_names(posted)} if action == "close" else {}
        step(session, vs=vs, actor=admin.username, **names)
    except (ValidationError, Invalid) as exc:
        session.rollback()
        return voting_close.refused(request, session, vs, posted, exc)
    except Conflict as exc:
        session.rollback()
        return _refused(request, session, vs, action, exc)
    if action == "close":
        scrub()  # as the API does: old copies of the reshuffled vote rows go after commit
    return RedirectResponse(f"{BASE}/{vs.id}?{urlencode({'done': action})}", 303)
