"""Secret ballots: receipts, validation, casting (once per deputy), turnout, and the
reshuffle at closing that unlinks ballots from voters in storage (ballots and voter records)."""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, func, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from service.errors import Conflict, Invalid, error_item
from service.models import User
from surveys.voting.exceptions import AlreadyVoted, NotInElectorate, NotSignedIn, SessionNotOpen
from surveys.voting.hall_models import Attendance
from surveys.voting.models import (
    SATISFACTION_CHOICES,
    SELECTION_CHOICES,
    Ballot,
    BallotIn,
    BallotMark,
    BallotMethod,
    Receipt,
    SessionDeputy,
    SessionKind,
    SessionMode,
    SessionState,
    Turnout,
    Voter,
    VotingSession,
)

RECEIPT_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
RECEIPT_LENGTH = 20  # 31**20 ~ 2**99: not guessable, so its public hash reveals nothing


def receipt_hash(receipt: str) -> str:
    """The public form of a receipt: plain SHA-256, so anyone can check it."""
    return hashlib.sha256(normalize_receipt(receipt).encode()).hexdigest()


def normalize_receipt(receipt: str) -> str:
    """Receipts are typed back by people: ignore case, spaces and dashes."""
    return "".join(ch for ch in receipt.upper() if ch.isalnum())


def new_receipt() -> str:
    """A random receipt code, grouped in fours for reading aloud."""
    raw = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, RECEIPT_LENGTH, 4))


def _allowed(vs: VotingSession) -> tuple[str, ...]:
    return SELECTION_CHOICES if vs.kind == SessionKind.selection else SATISFACTION_CHOICES


def validate_choices(vs: VotingSession, choices: dict[str, str]) -> dict[int, str]:
    """Every slate project exactly once with an allowed mark, and not too many "for" marks."""
    assert vs.frozen_config is not None
    slate = [int(p["project_id"]) for p in vs.frozen_config["projects"]]
    allowed = _allowed(vs)
    errors: list[dict[str, Any]] = []
    marks: dict[int, str] = {}
    for key, value in choices.items():
        try:
            pid = int(key)
        except ValueError:
            pid = -1
        if pid not in slate or str(pid) != key.strip():
            errors.append(error_item(["body", "choices", key], "not a project on this ballot"))
        elif value not in allowed:
            errors.append(
                error_item(["body", "choices", key], "must be one of: " + ", ".join(allowed))
            )
        else:
            marks[pid] = value
    for pid in slate:
        if str(pid) not in choices:
            errors.append(
                {
                    "loc": ["body", "choices", str(pid)],
                    "msg": "a mark is required for every project",
                    "type": "missing",
                }
            )
    if errors:
        raise Invalid(errors)
    limit = vs.max_for_per_ballot
    if vs.kind == SessionKind.selection and limit is not None:
        n_for = sum(1 for v in marks.values() if v == "for")
        if n_for > limit:
            raise Invalid.field(
                ("body", "choices"), f'at most {limit} projects may be marked "for" ({n_for} were)'
            )
    return marks


def _check_member_and_open(session: Session, *, vs: VotingSession, user: User) -> None:
    if not is_member(session, vs=vs, user=user):
        raise NotInElectorate("You are not in the electorate of this session")
    if vs.ballot_method == BallotMethod.paper:
        raise SessionNotOpen("This session is voted on paper ballots only")
    if vs.state != SessionState.open:
        raise SessionNotOpen(
            f"The session is not open for voting (it is {SessionState(vs.state).value})"
        )
    require_signed_in(session, vs=vs, user=user)


def require_signed_in(session: Session, *, vs: VotingSession, user: User) -> None:
    """In the hall only deputies present vote, by device or on paper: 实到 counts them, and
    a ballot from a deputy nobody saw arrive would make the votes outnumber the present."""
    if vs.mode == SessionMode.hall and session.get(Attendance, (vs.id, user.id)) is None:
        raise NotSignedIn(
            f"代表 {user.username} 尚未签到，会场票决须先签到再投票 "
            f"({user.username} has not signed in: in a hall vote deputies sign in first)"
        )


def check_can_vote(session: Session, *, vs: VotingSession, user: User) -> None:
    """Whether the deputy may vote now: in the electorate, the session open, not voted yet."""
    _check_member_and_open(session, vs=vs, user=user)
    if has_voted(session, vs=vs, user=user):
        raise AlreadyVoted("You have already voted in this session")


def cast_ballot(session: Session, *, vs: VotingSession, user: User, data: BallotIn) -> Receipt:
    """Store a secret ballot and, in the same transaction, that this deputy has voted.

    The voter row's primary key (session, deputy) is what makes a second ballot fail,
    across any number of concurrent requests and server processes. The ballot row gets a
    random id and no deputy or time; the receipt is returned once and only its hash kept.
    """
    _check_member_and_open(session, vs=vs, user=user)
    marks = validate_choices(vs, data.choices)
    session.add(Voter(session_id=vs.id or 0, user_id=user.id or 0))
    try:
        session.flush()
    except IntegrityError as exc:  # the request's transaction is rolled back
        raise AlreadyVoted("You have already voted in this session") from exc
    # Re-check the state under a shared lock: closing takes the row exclusively, so a
    # ballot either commits before the close counts or sees the session closed.
    state = session.exec(
        select(VotingSession.state).where(VotingSession.id == vs.id).with_for_update(read=True)
    ).one()
    if state != SessionState.open:
        raise Conflict("The session closed before the ballot was stored")
    receipt = new_receipt()
    ballot_id = secrets.token_hex(16)
    digest = receipt_hash(receipt)
    session.execute(insert(Ballot).values(id=ballot_id, session_id=vs.id, receipt_hash=digest))
    session.execute(
        insert(BallotMark),
        [{"ballot_id": ballot_id, "project_id": pid, "choice": c} for pid, c in marks.items()],
    )
    return Receipt(receipt=receipt, receipt_hash=digest)


def has_voted(session: Session, *, vs: VotingSession, user: User) -> bool:
    """Whether this deputy has cast a ballot in the session (never what it says)."""
    return session.get(Voter, (vs.id, user.id)) is not None


def is_member(session: Session, *, vs: VotingSession, user: User) -> bool:
    """Whether the deputy is in the session's electorate."""
    return session.get(SessionDeputy, (vs.id, user.id)) is not None


def turnout(session: Session, *, vs: VotingSession) -> Turnout:
    """Ballots cast and the electorate: all that is visible while a session is open."""
    cast = session.exec(
        select(func.count()).select_from(Ballot).where(Ballot.session_id == vs.id)
    ).one()
    return Turnout(cast=cast, electorate=electorate_size(session, vs), state=vs.state)


def electorate_size(session: Session, vs: VotingSession) -> int:
    """Seated deputies (for an imported election: its number of voters)."""
    if vs.frozen_config is not None:
        return int(vs.frozen_config["electorate_size"])
    return int(
        session.exec(
            select(func.count()).select_from(SessionDeputy).where(SessionDeputy.session_id == vs.id)
        ).one()
    )


def reshuffle_ballots(session: Session, *, vs: VotingSession) -> None:
    """Rewrite a session's ballots in random order under new random ids (at closing).

    Each ballot was written in its deputy's transaction, next to the voter record: storage
    order (SQLite rowid, PostgreSQL ctid) and PostgreSQL's transaction id (xmin) would line
    ballots up with voters. Rewritten in one transaction in shuffled order, they no longer do.
    """
    ballots = list(
        session.exec(select(Ballot.id, Ballot.receipt_hash).where(Ballot.session_id == vs.id))
    )
    if not ballots:
        return
    marks: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for bid, pid, choice in session.exec(
        select(BallotMark.ballot_id, BallotMark.project_id, BallotMark.choice)
        .join(Ballot, col(Ballot.id) == BallotMark.ballot_id)
        .where(Ballot.session_id == vs.id)
    ):
        marks[bid].append((pid, choice))
    old_ids = [bid for bid, _ in ballots]
    for start in range(0, len(old_ids), 500):
        chunk = old_ids[start : start + 500]
        session.execute(delete(BallotMark).where(col(BallotMark.ballot_id).in_(chunk)))
    session.execute(delete(Ballot).where(col(Ballot.session_id) == vs.id))
    secrets.SystemRandom().shuffle(ballots)
    new_rows, new_marks = [], []
    for bid, digest in ballots:
        new_id = secrets.token_hex(16)
        new_rows.append({"id": new_id, "session_id": vs.id, "receipt_hash": digest})
        new_marks += [{"ballot_id": new_id, "project_id": p, "choice": c} for p, c in marks[bid]]
    session.execute(insert(Ballot), new_rows)
    if new_marks:
        session.execute(insert(BallotMark), new_marks)
    session.flush()


def reshuffle_voters(session: Session, *, vs: VotingSession) -> None:
    """Rewrite a session's voter records in random order (at closing, with the ballots).

    Each voter record was written as its deputy voted: SQLite's rowid, PostgreSQL's ctid and
    xmin gave the voting order, which the receipt order in old copies of the ballots could
    match. Rewritten in the closing transaction, all records share one xmin and a random order.
    """
    user_ids = list(session.exec(select(Voter.user_id).where(Voter.session_id == vs.id)))
    if not user_ids:
        return
    session.execute(delete(Voter).where(col(Voter.session_id) == vs.id))
    secrets.SystemRandom().shuffle(user_ids)
    session.execute(insert(Voter), [{"session_id": vs.id, "user_id": u} for u in user_ids])
    session.flush()


def approval_ballots(session: Session, vs: VotingSession) -> list[list[int]]:
    """Each ballot's "for" marks (ballots in random-id order; empty ones included)."""
    ids = list(
        session.exec(select(Ballot.id).where(Ballot.session_id == vs.id).order_by(col(Ballot.id)))
    )
    approved: dict[str, list[int]] = {i: [] for i in ids}
    for bid, pid in session.exec(
        select(BallotMark.ballot_id, BallotMark.project_id)
        .join(Ballot, col(Ballot.id) == col(BallotMark.ballot_id))
        .where(Ballot.session_id == vs.id, BallotMark.choice == "for")
        .order_by(col(BallotMark.ballot_id), col(BallotMark.project_id))
    ):
        approved[bid].append(pid)
    return [approved[i] for i in ids]
