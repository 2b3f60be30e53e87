"""The console's paper ballots: /admin/voting-sessions/{id}/paper.

One page per session for the whole paper vote: print sheets (a printable A4 page of 选票,
one or two a page, each with its serial), hand them out (to a named deputy in a mixed
session, by number in a paper-only one), enter the sheets from the ballot box one by one or
the per-candidate totals, with the scrutineers, and see the reconciliation (发出 / 收回 / 有效 /
无效) and what still keeps the session from closing. The printable 计票报告 follows the close.
Every write calls the service function the API calls (surveys.voting.paper), which audits it;
a refusal is shown on the page in words, with the service's 409 or 422.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from frontend.i18n import request_language, translate
from frontend.pages.admin.access import ConsoleAdmin, ConsoleRoute
from frontend.pages.admin.common import console_render
from frontend.pages.admin.voting_forms import Posted
from service.db import SessionDep
from service.errors import AppError, Conflict, Invalid
from surveys.voting import paper, paper_report, sessions
from surveys.voting.dependencies import valid_session_id
from surveys.voting.models import SessionKind, SessionState, VotingSession
from surveys.voting.paper_schemas import PaperBallotIn, PaperCountIn, PaperIssue
from surveys.voting.schemas import parse_result

router = APIRouter(route_class=ConsoleRoute)

BASE = "/admin/voting-sessions/{session_id}/paper"
DONE = ("printed", "issued", "ballot_valid", "ballot_invalid", "ballot_deleted", "counted")
SessionByPath = Annotated[VotingSession, Depends(valid_session_id)]


def _first(posted: dict[str, list[str]], key: str) -> str:
    return (posted.get(key) or [""])[0].strip()


def _int_or_none(text: str) -> int | str | None:
    """A typed number, or the text itself so the model names the field that is not one."""
    if not text:
        return None
    return int(text) if text.isdigit() else text


def _choices(vs: VotingSession) -> tuple[str, ...]:
    if vs.kind == SessionKind.selection:
        return ("for", "against", "abstain")
    return ("satisfied", "basically_satisfied", "dissatisfied")


def _zh_choices(vs: VotingSession) -> dict[str, str]:
    """The choices' words as the sheet and the report print them: in Chinese, whatever the
    console's language (they are official papers)."""
    return {c: translate("zh-CN", f"admin.paper.choice.{c}") for c in _choices(vs)}


def _refusal(lang: str, exc: AppError | ValidationError) -> str:
    """A refusal in words: the service's message, or each refused field and its reason."""
    if isinstance(exc, ValidationError | Invalid):
        items = exc.errors() if isinstance(exc, ValidationError) else exc.errors
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in items
        )
        return translate(lang, "admin.paper.refused_field", fields=fields)
    return exc.message


def _page(
    request: Request,
    session: Session,
    vs: VotingSession,
    *,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    lang = request_language(request)
    done = request.query_params.get("done", "")
    flash = ""
    if done in DONE:
        flash = translate(
            lang, f"admin.paper.done.{done}", detail=request.query_params.get("n", "")
        )
    ctx = {
        "section": "voting-sessions",
        "vs": sessions.session_public(session, vs=vs),
        "state": SessionState(vs.state).value,
        "paper": paper.paper_state(session, vs=vs),
        "ballots": paper.entered_ballots(session, vs=vs),
        "choices": _choices(vs),
        "error": error,
        "flash": flash,
    }
    return console_render(request, "admin/paper.html", ctx, status_code=status_code)


def _refused(
    request: Request, session: Session, vs: VotingSession, exc: AppError | ValidationError
) -> HTMLResponse:
    session.rollback()  # nothing of a refused form is kept
    session.refresh(vs)
    status_code = exc.status_code if isinstance(exc, AppError) else 422
    error = _refusal(request_language(request), exc)
    return _page(request, session, vs, error=error, status_code=status_code)


def _done(vs: VotingSession, what: str, n: object = "") -> RedirectResponse:
    query = urlencode({"done": what, "n": n}) if n != "" else urlencode({"done": what})
    return RedirectResponse(f"/admin/voting-sessions/{vs.id}/paper?{query}#paper-status", 303)


@router.get(BASE, response_class=HTMLResponse)
def paper_page(
    request: Request, admin: ConsoleAdmin, vs: SessionByPath, session: SessionDep
) -> Response:
    """A session's paper ballots: sheets, handing out, the count and its reconciliation."""
    return _page(request, session, vs)


@router.post(BASE + "/sheets", response_class=HTMLResponse)
def print_sheets_page(
    request: Request, admin: ConsoleAdmin, vs: SessionByPath, session: SessionDep, posted: Posted
) -> Response:
    """Record N more printed sheets, then show them for printing."""
    count, per_page = _first(posted, "count"), _first(posted, "per_page")
    if not count.isdigit() or not 1 <= int(count) <= 5000:
        error = Invalid.field(("body", "count"), "a number of sheets from 1 to 5000")
        return _refused(request, session, vs, error)
    try:
        serials = paper.print_sheets(session, vs=vs, count=int(count), actor=admin.username)
    except AppError as exc:
        return _refused(request, session, vs, exc)
    query = urlencode(
        {"first": serials[0], "last": serials[-1], "per_page": 2 if per_page == "2" else 1}
    )
    return RedirectResponse(f"/admin/voting-sessions/{vs.id}/paper/sheets?{query}", 303)


@router.post(BASE + "/issue", response_class=HTMLResponse)
def issue_page(
    request: Request, admin: ConsoleAdmin, vs: SessionByPath, session: SessionDep, posted: Posted
) -> Response:
    """Hand out a sheet to a named deputy, or a number of sheets (paper-only session)."""
    username, count = _first(posted, "username"), _first(posted, "count")
    try:
        data = PaperIssue.model_validate(
            {"username": username or None, "count": _int_or_none(count)}
        )
        issued = paper.issue_sheets(session, vs=vs, data=data, actor=admin.username)
    except (AppError, ValidationError) as exc:
        return _refused(request, session, vs, exc)
    return _done(vs, "issued", issued)


@router.post(BASE + "/ballots", response_class=HTMLResponse)
def ballot_page(
    request: Request, admin: ConsoleAdmin, vs: SessionByPath, session: SessionDep, posted: Posted
) -> Response:
    """Enter one sheet from the ballot box: its serial and the mark of each candidate."""
    marks = {
        key.removeprefix("mark_"): values[0]
        for key, values in posted.items()
        if key.startswith("mark_") and values and values[0]
    }
    try:
        data = PaperBallotIn.model_validate(
            {"serial": _int_or_none(_first(posted, "serial")), "marks": marks}
        )
        out = paper.enter_ballot(session, vs=vs, data=data, actor=admin.username)
    except (AppError, ValidationError) as exc:
        return _refused(request, session, vs, exc)
    if out.valid:
        return _done(vs, "ballot_valid", out.serial)
    return _done(vs, "ballot_invalid", f"{out.serial}: {out.invalid_reason}")


@router.post(BASE + "/ballots/{serial}/delete", response_class=HTMLResponse)
def delete_ballot_page(
    request: Request, admin: ConsoleAdmin, vs: SessionByPath, serial: int, session: SessionDep
) -> Response:
    """Take back a sheet entered by mistake (before the count)."""
    try:
        paper.delete_ballot(session, vs=vs, serial=serial, actor=admin.username)
    except AppError as exc:
        return _refused(request, session, vs, exc)
    return _done(vs, "ballot_deleted", serial)


@router.post(BASE + "/count", response_class=HTMLResponse)
def count_page(
    request: Request, admin: ConsoleAdmin, vs: SessionByPath, session: SessionDep, posted: Posted
) -> Response:
    """Enter the hand count with the scrutineers (one name a line)."""
    entry = _first(posted, "entry")
    body: dict[str, Any] = {
        "entry": entry,
        "collected": _int_or_none(_first(posted, "collected")),
        "scrutineers": [n.strip() for n in _first(posted, "scrutineers").splitlines() if n.strip()],
    }
    if entry == "per_candidate":
        body["valid"] = _int_or_none(_first(posted, "valid"))
        body["invalid"] = _int_or_none(_first(posted, "invalid"))
        body["counts"] = {
            str(p.project_id): {
                c: _int_or_none(_first(posted, f"{c}_{p.project_id}")) or 0 for c in _choices(vs)
            }
            for p in sessions.session_public(session, vs=vs).projects
        }
    try:
        data = PaperCountIn.model_validate(body)
        paper.enter_count(session, vs=vs, data=data, actor=admin.username)
    except (AppError, ValidationError) as exc:
        return _refused(request, session, vs, exc)
    return _done(vs, "counted")


@router.get(BASE + "/sheets", response_class=HTMLResponse)
def sheets_page(
    request: Request,
    admin: ConsoleAdmin,
    vs: SessionByPath,
    session: SessionDep,
    first: Annotated[int, Query(ge=1)] = 1,
    last: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=2)] = 1,
) -> Response:
    """The printable sheets (选票) with the serials given, printed already (A4)."""
    printed = paper.paper_state(session, vs=vs).printed
    if last < first or last > printed or last - first >= 5000:
        error = translate(request_language(request), "admin.paper.sheets_range", printed=printed)
        return _page(request, session, vs, error=error, status_code=422)
    ctx = {
        "section": "voting-sessions",
        "vs": sessions.session_public(session, vs=vs),
        "serials": list(range(first, last + 1)),
        "per_page": per_page,
        "choices": _choices(vs),
        "t_zh": _zh_choices(vs),
    }
    return console_render(request, "admin/paper_sheets.html", ctx)


@router.get(BASE + "/report", response_class=HTMLResponse)
def report_page(
    request: Request, admin: ConsoleAdmin, vs: SessionByPath, session: SessionDep
) -> Response:
    """The printable 计票报告: the reconciliation, each candidate's votes electronic + paper,
    the scrutineers with lines to sign, the configuration hash."""
    try:
        rows = paper_report.report_rows(session, vs=vs)
    except Conflict as exc:
        return _page(request, session, vs, error=exc.message, status_code=409)
    assert vs.result is not None
    result = parse_result(vs.result)
    ctx = {
        "section": "voting-sessions",
        "vs": vs,
        "result": result,
        "rows": rows,
        "choices": _choices(vs),
        "t_zh": _zh_choices(vs),
        "zone_words": paper_report.zone_words(request.app.state.settings.time_zone),
    }
    return console_render(request, "admin/paper_report.html", ctx)
