"""Routes of the vote in the hall: attendance, seat cards, the big screen's state."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.db import SessionDep
from surveys.voting import screen
from surveys.voting.dependencies import SessionById
from surveys.voting.screen import HallState

router = APIRouter(prefix="/api/v1", tags=["voting: hall"])


# --- the big screen (surveys.voting.screen) ---------------------------------------------------


@router.get("/voting-sessions/{session_id}/hall", response_model=HallState)
def read_hall_state(vs: SessionById, session: SessionDep, response: Response) -> HallState:
    """The big screen's state: attendance, turnout, and the counts once announced (public)."""
    # Polled every second by the screens: never served from a cache.
    response.headers["Cache-Control"] = "no-store"
    return screen.hall_state(session, vs=vs)
