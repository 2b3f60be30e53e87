"""The close form's scrutineers (监票人) on the console's confirmation page.

A hall vote is closed under at least two named scrutineers (``surveys.voting.scrutiny``): the
confirmation page asks for them, one a line, unless the paper count already named them (then
they are shown and the field may stay empty). A refused list comes back on the same page, the
reason beside the field (422), as the API's 422 names ``scrutineers``."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlmodel import Session

from frontend.i18n import request_language, translate
from frontend.pages.admin.common import console_render
from service.errors import Invalid
from surveys.voting import ballots
from surveys.voting.models import BallotMethod, SessionMode, SessionState, VotingSession
from surveys.voting.paper import counted, paper_row
from surveys.voting.scrutiny import CloseIn


def posted_names(posted: dict[str, list[str]]) -> list[str] | None:
    """The names typed in the field, one a line (None when it is empty); ValidationError
    when they are fewer than two, repeated or too many."""
    text = (posted.get("scrutineers") or [""])[0]
    names = [n.strip() for n in text.splitlines() if n.strip()]
    return CloseIn.model_validate({"scrutineers": names or None}).scrutineers


def confirm_context(session: Session, vs: VotingSession) -> dict[str, Any]:
    """What the close's confirmation shows of the scrutineers: whether they are asked for
    (a hall vote) and those the paper count already named."""
    paper_names: list[str] = []
    if vs.ballot_method != BallotMethod.electronic:
        row = paper_row(session, vs)
        if row is not None and counted(row):
            paper_names = list(row.scrutineers)
    return {
        "ask_scrutineers": vs.mode == SessionMode.hall,
        "paper_scrutineers": paper_names,
        "scrutineers_text": "",
        "errors": {},
    }


def refused(
    request: Request,
    session: Session,
    vs: VotingSession,
    posted: dict[str, list[str]],
    exc: ValidationError | Invalid,
) -> HTMLResponse:
    """The confirmation page again, the typed names kept, the reason beside the field."""
    session.refresh(vs)
    items = exc.errors() if isinstance(exc, ValidationError) else exc.errors
    missing = not (posted.get("scrutineers") or [""])[0].strip()
    key = "missing" if missing else "invalid"
    reason = str(items[0]["msg"]) if items else ""
    ctx = {
        "section": "voting-sessions",
        "vs": vs,
        "action": "close",
        "state": SessionState(vs.state).value,
        "turnout": ballots.turnout(session, vs=vs),
        **confirm_context(session, vs),
        "scrutineers_text": (posted.get("scrutineers") or [""])[0],
        "errors": {
            "scrutineers": translate(
                request_language(request), f"admin.voting.scrutineers.{key}", reason=reason
            )
        },
    }
    return console_render(request, "admin/voting_confirm.html", ctx, status_code=422)
