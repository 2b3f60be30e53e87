"""Routes of the vote in the hall: attendance, seat cards, the big screen's state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from service.auth import AdminUser, OptionalUser
from service.db import SessionDep
from service.errors import Forbidden, Unauthorized
from service.models import Role
from service.ratelimit import enforce_rate_limit
from surveys.voting import hall, screen
from surveys.voting.dependencies import SessionById
from surveys.voting.hall_schemas import (
    AttendanceIn,
    AttendanceView,
    CardBallotIn,
    CardCode,
    IssuedCard,
    SeatCardRow,
)
from surveys.voting.models import BallotIn, Receipt
from surveys.voting.schemas import AttendanceOut
from surveys.voting.screen import HallState

router = APIRouter(prefix="/api/v1", tags=["voting: hall"])


def card_refusals(request: Request) -> Callable[[], None]:
    """Counts a refused seat-card code against its client's limit (429 past it), so codes
    cannot be tried in bulk; right codes are not counted."""
    return lambda: enforce_rate_limit(request, bucket="seat-card")


CardRefusals = Annotated[Callable[[], None], Depends(card_refusals)]


# --- attendance -----------------------------------------------------------------------------


@router.post(
    "/voting-sessions/{session_id}/attendance",
    response_model=AttendanceOut,
    status_code=status.HTTP_201_CREATED,
)
def create_attendance(
    admin: AdminUser, vs: SessionById, data: AttendanceIn, session: SessionDep
) -> AttendanceOut:
    """Mark a deputy of the electorate present (admin; audited; 409 if already, or closed)."""
    return hall.mark_present(session, vs=vs, username=data.username, actor=admin.username)


@router.delete("/voting-sessions/{session_id}/attendance/{username}", response_model=AttendanceOut)
def delete_attendance(
    admin: AdminUser, vs: SessionById, username: str, session: SessionDep
) -> AttendanceOut:
    """Undo a wrong sign-in before the session opens (admin; audited)."""
    return hall.unmark_present(session, vs=vs, username=username, actor=admin.username)


@router.get("/voting-sessions/{session_id}/attendance", response_model=AttendanceView)
def read_attendance(
    user: OptionalUser, vs: SessionById, session: SessionDep, detail: bool = False
) -> AttendanceView:
    """应到 / 实到 and the quorum (public); ``?detail=true`` lists who is present (admin)."""
    if detail and user is None:
        raise Unauthorized()
    if detail and user is not None and user.role != Role.admin:
        raise Forbidden("The list of those present needs the role: admin")
    return hall.attendance_view(session, vs=vs, detail=detail)


# --- seat cards -----------------------------------------------------------------------------


@router.post(
    "/voting-sessions/{session_id}/seat-cards",
    response_model=list[IssuedCard],
    status_code=status.HTTP_201_CREATED,
)
def create_seat_cards(
    admin: AdminUser, vs: SessionById, session: SessionDep, request: Request, response: Response
) -> list[IssuedCard]:
    """Issue a card to every deputy without a valid one; the codes are answered this once
    (admin; audited)."""
    response.headers["Cache-Control"] = "no-store"
    base = str(request.base_url)
    return hall.issue_cards(session, vs=vs, actor=admin.username, base=base)


@router.get("/voting-sessions/{session_id}/seat-cards", response_model=list[SeatCardRow])
def read_seat_cards(admin: AdminUser, vs: SessionById, session: SessionDep) -> list[SeatCardRow]:
    """Each deputy of the electorate and their card's state, never a code (admin)."""
    return hall.seat_cards(session, vs=vs)


@router.post(
    "/voting-sessions/{session_id}/seat-cards/{username}/revoke",
    status_code=status.HTTP_204_NO_CONTENT,
)
def revoke_seat_card(admin: AdminUser, vs: SessionById, username: str, session: SessionDep) -> None:
    """Revoke a deputy's card, e.g. a lost one (admin; audited; 409 without a valid card)."""
    hall.revoke_card(session, vs=vs, username=username, actor=admin.username)


@router.post(
    "/voting-sessions/{session_id}/seat-cards/{username}",
    response_model=IssuedCard,
    status_code=status.HTTP_201_CREATED,
)
def reissue_seat_card(
    admin: AdminUser,
    vs: SessionById,
    username: str,
    session: SessionDep,
    request: Request,
    response: Response,
) -> IssuedCard:
    """A new card for the deputy, revoking the old one; the code is answered once (admin;
    audited)."""
    response.headers["Cache-Control"] = "no-store"
    base = str(request.base_url)
    return hall.reissue_card(session, vs=vs, username=username, actor=admin.username, base=base)


@router.post(
    "/voting-sessions/{session_id}/card/sign-in",
    response_model=AttendanceOut,
    status_code=status.HTTP_201_CREATED,
)
def create_card_sign_in(
    vs: SessionById, data: CardCode, session: SessionDep, refused: CardRefusals
) -> AttendanceOut:
    """A deputy signs in with the seat card's code (403 for a code that is not a valid card
    of this session; 409 if already signed in; refused codes are rate-limited)."""
    return hall.card_sign_in(session, vs=vs, code=data.code, on_refused=refused)


@router.post(
    "/voting-sessions/{session_id}/card/ballots",
    response_model=Receipt,
    status_code=status.HTTP_201_CREATED,
)
def create_card_ballot(
    vs: SessionById, data: CardBallotIn, session: SessionDep, refused: CardRefusals
) -> Receipt:
    """Cast a secret ballot with the seat card's code (once per deputy, by card or password);
    the receipt is shown once."""
    ballot = BallotIn(choices=data.choices)
    return hall.card_ballot(session, vs=vs, code=data.code, data=ballot, on_refused=refused)


# --- the big screen (surveys.voting.screen) ---------------------------------------------------


@router.get("/voting-sessions/{session_id}/hall", response_model=HallState)
def read_hall_state(vs: SessionById, session: SessionDep, response: Response) -> HallState:
    """The big screen's state: attendance, turnout, and the counts once announced (public)."""
    # Polled every second by the screens: never served from a cache.
    response.headers["Cache-Control"] = "no-store"
    return screen.hall_state(session, vs=vs)
