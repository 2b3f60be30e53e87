"""How many paper sheets may be handed out: never more than there are deputies to vote.

Sheets handed out (发出) and electronic ballots are each one deputy's vote. In a hall
session only deputies present vote (``ballots.require_signed_in``), so together they never
exceed 实到 as it stands (late arrivals count: they may vote); in any session they never
exceed 应到, the electorate. A sheet handed out "by count" names nobody, so only this cap
keeps the paper from outnumbering the deputies.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from service.errors import Conflict
from surveys.voting import hall
from surveys.voting.ballots import electorate_size
from surveys.voting.models import Ballot, SessionMode, VotingSession


class TooManySheets(Conflict):
    """Handing out these sheets would give more votes than there are deputies to cast them."""


def electronic_ballots(session: Session, vs: VotingSession) -> int:
    return int(
        session.exec(
            select(func.count()).select_from(Ballot).where(Ballot.session_id == vs.id)
        ).one()
    )


def check_headcount(session: Session, vs: VotingSession, *, issued: int, more: int) -> None:
    """409 naming the numbers when ``issued + more`` sheets and the electronic ballots
    would exceed the deputies present (hall) or the electorate (any session)."""
    electronic = electronic_ballots(session, vs)
    total = issued + more + electronic
    seated = electorate_size(session, vs)
    if vs.mode == SessionMode.hall:
        present = hall.present_count(session, vs)
        if total > present:
            raise TooManySheets(
                f"已发出选票 {issued} 张，再发 {more} 张，加电子表决 {electronic} 票，"
                f"共 {total} 票，超过实到代表 {present} 人 "
                f"(issued {issued} + {more} more + {electronic} electronic = {total}, "
                f"more than the {present} deputies present)",
                issued=issued,
                more=more,
                electronic=electronic,
                present=present,
            )
    if total > seated:
        raise TooManySheets(
            f"已发出选票 {issued} 张，再发 {more} 张，加电子表决 {electronic} 票，"
            f"共 {total} 票，超过应到代表 {seated} 人 "
            f"(issued {issued} + {more} more + {electronic} electronic = {total}, "
            f"more than the {seated} deputies of the electorate)",
            issued=issued,
            more=more,
            electronic=electronic,
            seated=seated,
        )
