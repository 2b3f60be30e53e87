"""The deputy's seat-card page, reached by scanning the card's QR: /hall/{id}/card.

The code travels in the URL's fragment, which no browser sends: the page's script moves it
into a form and posts it (a deputy without JavaScript types it). Posting signs the deputy in
(``hall.card_sign_in``), then shows what the session's state allows: waiting for the vote to
open, the ballot (the vote page's own template, posting here with the code), the receipt.
Each step carries the code in a hidden field, never in a URL. Refused codes count against
the client's rate limit, as on the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from frontend.i18n import request_language, translate
from frontend.pages.voting import FormFields, _ballot_context, _error_texts, _form_choices
from frontend.templating import render
from service.db import SessionDep
from service.errors import Forbidden, Invalid, NotFound
from service.models import User
from service.ratelimit import enforce_rate_limit
from surveys.voting import ballots, hall
from surveys.voting.dependencies import valid_session_id
from surveys.voting.models import BallotIn, SessionState, VotingSession

router = APIRouter(include_in_schema=False)


def _session_or_404(session_id: int, session: SessionDep) -> VotingSession | None:
    try:
        return valid_session_id(session_id, session)
    except NotFound:
        return None


MaybeSession = Annotated[VotingSession | None, Depends(_session_or_404)]


def _page(
    request: Request, vs: VotingSession | None, step: str, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    lang = request_language(request)
    context = {"vs": vs, "step": step, "en": lang == "en", "code": "", "error": "", **ctx}
    response = render(request, "hall_card.html", context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"  # pages that carry the card's code
    return response


def _holder(
    request: Request, session: Session, vs: VotingSession, code: str
) -> tuple[User | None, Response | None]:
    """The card's deputy, or the code form again (403) saying the code is not valid here."""
    try:
        return hall.card_holder(
            session,
            vs=vs,
            code=code,
            on_refused=lambda: enforce_rate_limit(request, bucket="seat-card"),
        ), None
    except Forbidden:
        error = translate(request_language(request), "hall.card.refused")
        return None, _page(request, vs, "code", 403, error=error)


def _ballot_page(
    request: Request,
    session: Session,
    vs: VotingSession,
    code: str,
    step: str,
    choices: dict[str, str],
    errors: list[str],
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    lang = request_language(request)
    ctx = _ballot_context(session, vs, lang, choices, errors)
    ctx |= {"step": step, "vote_action": f"/hall/{vs.id}/card/vote", "card_code": code, **extra}
    response = render(request, "vote.html", ctx, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/hall/{session_id}/card", response_class=HTMLResponse)
def card_page(request: Request, vs: MaybeSession) -> Response:
    """The card's landing page: its script posts the code from the fragment."""
    if vs is None:
        return _page(request, None, "missing", 404)
    return _page(request, vs, "code")


@router.post("/hall/{session_id}/card", response_class=HTMLResponse)
def card_sign_in(
    request: Request, vs: MaybeSession, session: SessionDep, form: FormFields
) -> Response:
    """Sign in with the card, then wait for the vote, vote, or read that it is over."""
    if vs is None:
        return _page(request, None, "missing", 404)
    code = form.get("code", "").strip()
    user, refused = _holder(request, session, vs, code)
    if refused is not None:
        return refused
    assert user is not None
    state = SessionState(vs.state)
    if state in (SessionState.draft, SessionState.open) and not hall.is_present(
        session, vs=vs, user=user
    ):
        hall.card_sign_in(session, vs=vs, code=code)
    if state == SessionState.draft:
        return _page(request, vs, "waiting", code=code, name=user.display_name)
    if state != SessionState.open:
        return _page(request, vs, "over", 409)
    if ballots.has_voted(session, vs=vs, user=user):
        return _page(request, vs, "voted", 409)
    return _ballot_page(request, session, vs, code, "form", {}, [])


@router.post("/hall/{session_id}/card/vote/review", response_class=HTMLResponse)
def card_review(
    request: Request, vs: MaybeSession, session: SessionDep, form: FormFields
) -> Response:
    """Show the marks back before the ballot is cast (or the form again with its errors)."""
    if vs is None:
        return _page(request, None, "missing", 404)
    code = form.get("code", "").strip()
    user, refused = _holder(request, session, vs, code)
    if refused is not None:
        return refused
    if vs.state != SessionState.open:
        return _page(request, vs, "over", 409)
    lang = request_language(request)
    choices = _form_choices(form, vs)
    if form.get("edit"):
        return _ballot_page(request, session, vs, code, "form", choices, [])
    try:
        ballots.validate_choices(vs, choices)
    except Invalid as exc:
        errors = _error_texts(exc, lang, vs)
        return _ballot_page(request, session, vs, code, "form", choices, errors, 422)
    return _ballot_page(request, session, vs, code, "review", choices, [])


@router.post("/hall/{session_id}/card/vote", response_class=HTMLResponse)
def card_vote(
    request: Request, vs: MaybeSession, session: SessionDep, form: FormFields
) -> Response:
    """Cast the reviewed ballot with the card and show the receipt, once."""
    if vs is None:
        return _page(request, None, "missing", 404)
    code = form.get("code", "").strip()
    user, refused = _holder(request, session, vs, code)
    if refused is not None:
        return refused
    assert user is not None
    if vs.state != SessionState.open:
        return _page(request, vs, "over", 409)
    if ballots.has_voted(session, vs=vs, user=user):
        return _page(request, vs, "voted", 409)
    lang = request_language(request)
    choices = _form_choices(form, vs)
    try:
        ballots.validate_choices(vs, choices)
    except Invalid as exc:
        errors = _error_texts(exc, lang, vs)
        return _ballot_page(request, session, vs, code, "form", choices, errors, 422)
    # Checked above; a race (the same card twice at once, or the close) goes up as the
    # API's 409 so the request's session rolls the voter record back.
    receipt = hall.card_ballot(session, vs=vs, code=code, data=BallotIn(choices=choices))
    return _ballot_page(request, session, vs, code, "receipt", choices, [], receipt=receipt)
