"""The officers' sign-in desk of a hall session: /admin/voting-sessions/{id}/hall.

应到 / 实到 and the quorum, a search to mark a deputy present (phone-sized), the list of those
present (a wrong mark undone before opening), opening the session with the quorum checked,
and the seat cards: issue, print, revoke, reissue. Printable cards are the answer of the
issuing form: their codes exist only then (reprinting a card is reissuing it). Every write
calls the service the API calls (``surveys.voting.hall``), which audits it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from frontend.i18n import request_language, translate
from frontend.pages.admin.access import ConsoleAdmin, ConsoleRoute
from frontend.pages.admin.common import console_render
from frontend.pages.admin.voting_forms import Posted
from service.db import SessionDep
from service.errors import Conflict, Invalid
from surveys.voting import hall, sessions
from surveys.voting.dependencies import valid_session_id
from surveys.voting.hall_schemas import IssuedCard
from surveys.voting.models import SessionState, VotingSession

router = APIRouter(route_class=ConsoleRoute)

BASE = "/admin/voting-sessions/{session_id}/hall"
DONE = ("marked", "undone", "revoked", "opened")
SessionByPath = Annotated[VotingSession, Depends(valid_session_id)]


def _desk(
    request: Request,
    session: Session,
    vs: VotingSession,
    *,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    """The desk: counts, the search, those present, the cards."""
    lang = request_language(request)
    q = request.query_params.get("q", "").strip().lower()
    present = hall.attendance_list(session, vs)
    here = {row.username for row in present}
    cards = hall.seat_cards(session, vs=vs)
    found = [
        c
        for c in cards
        if q and c.username not in here and (q in c.username.lower() or q in c.display_name.lower())
    ]
    done = request.query_params.get("done", "")
    who = request.query_params.get("who", "")
    ctx = {
        "section": "voting-sessions",
        "vs": vs,
        "state": SessionState(vs.state).value,
        "att": hall.attendance_summary(session, vs),
        "frozen": hall.attendance_out(vs),
        "q": request.query_params.get("q", ""),
        "found": found[:20],
        "more": max(0, len(found) - 20),
        "present": present,
        "cards": cards,
        "without_card": sum(1 for c in cards if c.number is None),
        "error": error,
        "flash": translate(lang, f"hall.desk.done.{done}", who=who) if done in DONE else "",
    }
    return console_render(request, "admin/hall_desk.html", ctx, status_code=status_code)


def _back(vs: VotingSession, done: str, who: str = "") -> RedirectResponse:
    return RedirectResponse(f"/admin/voting-sessions/{vs.id}/hall?done={done}&who={who}", 303)


def _refused(
    request: Request, session: Session, vs: VotingSession, exc: Conflict | Invalid
) -> HTMLResponse:
    """The desk again with the refusal in words (409, or 422 for a name not in the list)."""
    session.rollback()
    session.refresh(vs)
    lang = request_language(request)
    if isinstance(exc, Invalid):
        return _desk(
            request, session, vs, error=translate(lang, "hall.desk.error.unknown"), status_code=422
        )
    if isinstance(exc, hall.QuorumNotMet):
        extra: dict[str, Any] = exc.extra
        text = translate(lang, "hall.desk.error.quorum", **extra)
    else:
        text = translate(lang, "hall.desk.error.state", state=SessionState(vs.state).value)
    return _desk(request, session, vs, error=text, status_code=409)


@router.get(BASE, response_class=HTMLResponse)
def desk_page(
    request: Request, admin: ConsoleAdmin, vs: SessionByPath, session: SessionDep
) -> Response:
    """The sign-in desk of a session: counts, search, those present, seat cards."""
    return _desk(request, session, vs)


@router.post(BASE + "/attendance", response_class=HTMLResponse)
def mark_page(
    request: Request, admin: ConsoleAdmin, vs: SessionByPath, session: SessionDep, posted: Posted
) -> Response:
    """Mark the chosen deputy present (``hall.mark_present``)."""
    username = (posted.get("username") or [""])[0].strip()
    try:
        hall.mark_present(session, vs=vs, username=username, actor=admin.username)
    except (Conflict, Invalid) as exc:
        return _refused(request, session, vs, exc)
    return _back(vs, "marked", username)


@router.post(BASE + "/attendance/{username}/undo", response_class=HTMLResponse)
def undo_page(
    request: Request, admin: ConsoleAdmin, vs: SessionByPath, username: str, session: SessionDep
) -> Response:
    """Undo a wrong sign-in before opening (``hall.unmark_present``)."""
    try:
        hall.unmark_present(session, vs=vs, username=username, actor=admin.username)
    except Conflict as exc:
        return _refused(request, session, vs, exc)
    return _back(vs, "undone", username)


@router.post(BASE + "/open", response_class=HTMLResponse)
def open_page(
    request: Request, admin: ConsoleAdmin, vs: SessionByPath, session: SessionDep
) -> Response:
    """Open the session from the desk; below the quorum the desk says by how many."""
    try:
        sessions.open_session(session, vs=vs, actor=admin.username)
    except Conflict as exc:
        return _refused(request, session, vs, exc)
    return _back(vs, "opened")


def _printed(request: Request, vs: VotingSession, cards: list[IssuedCard]) -> HTMLResponse:
    """The printable cards (A4, several a page): name, seat, QR and code; shown once."""
    ctx = {
        "section": "voting-sessions",
        "vs": vs,
        "cards": [(c, hall.qr_svg(c.url)) for c in cards],
    }
    response = console_render(request, "admin/hall_cards_print.html", ctx)
    response.headers["Cache-Control"] = "no-store"  # the codes exist only in this answer
    return response


@router.post(BASE + "/cards", response_class=HTMLResponse)
def issue_page(
    request: Request, admin: ConsoleAdmin, vs: SessionByPath, session: SessionDep
) -> Response:
    """Issue a card to every deputy without a valid one and print them."""
    base = str(request.base_url)
    try:
        cards = hall.issue_cards(session, vs=vs, actor=admin.username, base=base)
    except Conflict as exc:
        return _refused(request, session, vs, exc)
    return _printed(request, vs, cards)


@router.post(BASE + "/cards/{username}/revoke", response_class=HTMLResponse)
def revoke_page(
    request: Request, admin: ConsoleAdmin, vs: SessionByPath, username: str, session: SessionDep
) -> Response:
    """Revoke a deputy's card (lost)."""
    try:
        hall.revoke_card(session, vs=vs, username=username, actor=admin.username)
    except Conflict as exc:
        return _refused(request, session, vs, exc)
    return _back(vs, "revoked", username)


@router.post(BASE + "/cards/{username}/reissue", response_class=HTMLResponse)
def reissue_page(
    request: Request, admin: ConsoleAdmin, vs: SessionByPath, username: str, session: SessionDep
) -> Response:
    """A new card for the deputy (the old one revoked), printed at once."""
    base = str(request.base_url)
    try:
        card = hall.reissue_card(session, vs=vs, username=username, actor=admin.username, base=base)
    except (Conflict, Invalid) as exc:
        return _refused(request, session, vs, exc)
    return _printed(request, vs, [card])
