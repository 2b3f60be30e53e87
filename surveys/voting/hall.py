"""The vote in the hall: attendance (应到 / 实到), the quorum, and seat cards.

Attendance names deputies and ballots never do. A seat card's code is kept only as its
SHA-256; voting with it is ``ballots.cast_ballot`` for the card's deputy, so the one-ballot
guard is the ``voting_voter`` row as with a password, and voting reads the card row without
writing it: nothing orders cards, sign-ins and ballots against each other.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from service import audit
from service.db import utcnow
from service.errors import Conflict, Forbidden, Invalid
from service.models import User
from surveys.voting.ballots import RECEIPT_ALPHABET, cast_ballot, electorate_size, is_member
from surveys.voting.hall_models import Attendance, SeatCard
from surveys.voting.hall_schemas import AttendanceRow, AttendanceView, IssuedCard, SeatCardRow
from surveys.voting.models import (
    BallotIn,
    Receipt,
    SessionDeputy,
    SessionMode,
    SessionState,
    VotingSession,
)
from surveys.voting.schemas import AttendanceOut

CODE_LENGTH = 20  # 31**20 ~ 2**99 (more than the 80 bits asked of a credential)
CARD_REFUSED = "Unknown or revoked seat card for this session"


class QuorumNotMet(Conflict):
    """Fewer deputies present than the quorum asks: the session cannot open."""


# --- the quorum -----------------------------------------------------------------------------


def parse_quorum(value: str) -> Fraction:
    """A quorum as an exact fraction of the seated, 0 < q <= 1 ("2/3", "0.5"); ValueError else."""
    try:
        share = Fraction(value.strip())
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f'not a fraction such as "2/3": {value!r}') from exc
    if not 0 < share <= 1:
        raise ValueError("a quorum is a share of the seated deputies: 0 < quorum <= 1")
    return share


def quorum_of(mode: str, quorum: str | None) -> str | None:
    """A session's quorum: the one given (422 naming ``quorum`` if unreadable), else the
    mode's default (hall: at least 2/3)."""
    if quorum is not None and quorum.strip():
        try:
            return str(parse_quorum(quorum))
        except ValueError as exc:
            raise Invalid.field(("body", "quorum"), str(exc)) from exc
    return "2/3" if mode == "hall" else None


def quorum_required(quorum: str | None, seated: int) -> int:
    """Deputies who must be present: ceil(q * seated), the number itself included."""
    if not quorum:
        return 0
    return math.ceil(parse_quorum(quorum) * seated)


def attendance_out(vs: VotingSession) -> AttendanceOut | None:
    """The attendance frozen at opening, for the result (None for a remote session)."""
    cfg: dict[str, Any] = vs.frozen_config or {}
    att = cfg.get("attendance")
    if att is None:
        return None
    return AttendanceOut(**att)


def attendance_at_close(session: Session, vs: VotingSession) -> AttendanceOut | None:
    """实到 at the close, late arrivals included (None when nothing was frozen at opening);
    sign-in ends with the close, so a recount finds the same."""
    if attendance_out(vs) is None:
        return None
    return attendance_summary(session, vs)


# --- attendance -----------------------------------------------------------------------------


def present_count(session: Session, vs: VotingSession) -> int:
    # Joined with the electorate: a deputy taken off it while a draft no longer counts.
    return int(
        session.exec(
            select(func.count())
            .select_from(Attendance)
            .join(
                SessionDeputy,
                (col(SessionDeputy.session_id) == col(Attendance.session_id))
                & (col(SessionDeputy.user_id) == col(Attendance.user_id)),
            )
            .where(Attendance.session_id == vs.id)
        ).one()
    )


def attendance_summary(session: Session, vs: VotingSession) -> AttendanceOut:
    """应到 / 实到 now, and whether the quorum is met (the big screen and the API call this)."""
    seated = electorate_size(session, vs)
    present = present_count(session, vs)
    required = quorum_required(vs.quorum, seated)
    return AttendanceOut(
        seated=seated,
        present=present,
        quorum=vs.quorum,
        quorum_required=required,
        quorum_met=present >= required,
    )


def attendance_list(session: Session, vs: VotingSession) -> list[AttendanceRow]:
    """Who signed in, when and how, by username (admins only: it names deputies)."""
    rows = session.exec(
        select(User.username, User.display_name, Attendance.method, Attendance.signed_in_at)
        .join(Attendance, col(Attendance.user_id) == col(User.id))
        .join(
            SessionDeputy,
            (col(SessionDeputy.session_id) == col(Attendance.session_id))
            & (col(SessionDeputy.user_id) == col(Attendance.user_id)),
        )
        .where(Attendance.session_id == vs.id)
        .order_by(col(User.username))
    )
    return [
        AttendanceRow(username=u, display_name=d, method=m, signed_in_at=t) for u, d, m, t in rows
    ]


def attendance_view(session: Session, *, vs: VotingSession, detail: bool) -> AttendanceView:
    """The attendance API's answer: the counts, those at opening, and the list if asked."""
    now = attendance_summary(session, vs)
    frozen = attendance_out(vs)
    return AttendanceView(
        **now.model_dump(),
        present_at_opening=frozen.present if frozen is not None else None,
        deputies=attendance_list(session, vs) if detail else None,
    )


def attendance_at_opening(session: Session, vs: VotingSession) -> dict[str, Any] | None:
    """The attendance that opening freezes (None without a quorum in a remote session);
    409 naming the numbers when the quorum is not met."""
    if vs.mode != SessionMode.hall and not vs.quorum:
        return None
    att = attendance_summary(session, vs)
    if not att.quorum_met:
        raise QuorumNotMet(
            f"实到 {att.present} 人，不足法定人数 {att.quorum_required} "
            f"({att.quorum} of {att.seated}) / Present: {att.present}, below the quorum of "
            f"{att.quorum_required} ({att.quorum} of {att.seated})",
            seated=att.seated,
            present=att.present,
            quorum=att.quorum,
            quorum_required=att.quorum_required,
        )
    return att.model_dump()


def _hold(session: Session, vs: VotingSession, *, exclusive: bool = False) -> SessionState:
    """The session's state, read under a lock on its row.

    Opening takes the row exclusively (``sessions._lock``): a sign-in holding it shared either
    commits before opening counts the attendance or waits and sees the session open. Issuing
    cards takes it exclusively, so two officers cannot give one deputy two valid cards.
    SQLite has no row locks: a no-op write takes the database write lock instead.
    """
    if exclusive and session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(VotingSession)
            .where(col(VotingSession.id) == vs.id)
            .values(state=VotingSession.state)
        )
    state = session.exec(
        select(VotingSession.state)
        .where(VotingSession.id == vs.id)
        .with_for_update(read=not exclusive)
    ).one()
    return SessionState(state)


def _sign_in(session: Session, vs: VotingSession, user: User, method: str, actor: str) -> None:
    state = _hold(session, vs)
    if state not in (SessionState.draft, SessionState.open):
        raise Conflict(f"Sign-in is over: the session is {state.value}")
    if session.get(Attendance, (vs.id, user.id)) is not None:
        raise Conflict(f"{user.username} is already signed in")
    session.add(
        Attendance(session_id=vs.id or 0, user_id=user.id or 0, method=method, signed_in_by=actor)
    )
    session.flush()


def _deputy_of(session: Session, vs: VotingSession, username: str, loc: str = "body") -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not is_member(session, vs=vs, user=user):
        raise Invalid.field((loc, "username"), f"'{username}' is not in this electorate")
    return user


def mark_present(
    session: Session, *, vs: VotingSession, username: str, actor: str
) -> AttendanceOut:
    """An officer signs a deputy of the electorate in (409 if already, or once closed)."""
    user = _deputy_of(session, vs, username)
    _sign_in(session, vs, user, "officer", actor)
    audit.record(session, actor=actor, action="attendance.mark", target=str(vs.id), user=username)
    return attendance_summary(session, vs)


def unmark_present(
    session: Session, *, vs: VotingSession, username: str, actor: str
) -> AttendanceOut:
    """Undo a wrong sign-in before opening (once open, the attendance at opening stands)."""
    state = _hold(session, vs)
    if state != SessionState.draft:
        raise Conflict(f"A sign-in can be undone only before opening (it is {state.value})")
    user = session.exec(select(User).where(User.username == username)).first()
    row = session.get(Attendance, (vs.id, user.id)) if user is not None else None
    if row is None:
        raise Conflict(f"{username} is not signed in")
    session.delete(row)
    session.flush()
    audit.record(session, actor=actor, action="attendance.undo", target=str(vs.id), user=username)
    return attendance_summary(session, vs)


# --- seat cards -----------------------------------------------------------------------------


def normalize_code(code: str) -> str:
    """Codes are typed by people: ignore case, spaces and dashes."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def code_hash(code: str) -> str:
    """What is kept of a card's code: its plain SHA-256."""
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def new_code() -> str:
    """A random card code, in groups of four (read aloud or typed like a receipt)."""
    raw = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def card_url(base: str, session_id: int, code: str) -> str:
    """What the card's QR encodes: the deputy's page, the code in the fragment (a browser
    never sends a fragment, so no server log sees it)."""
    return f"{base.rstrip('/')}/hall/{session_id}/card#{code}"


def qr_svg(text: str) -> str:
    """The QR code of text as inline SVG (drawn on the server, nothing fetched)."""
    import segno  # only the console's printable cards need it

    svg: str = segno.make(text, error="m").svg_inline(scale=4, border=2, omitsize=True)
    return svg


def _seats(session: Session, vs: VotingSession) -> list[User]:
    """The electorate by username: a deputy's place in it is the number on the card."""
    rows = session.exec(
        select(User)
        .join(SessionDeputy, col(SessionDeputy.user_id) == col(User.id))
        .where(SessionDeputy.session_id == vs.id)
        .order_by(col(User.username))
    )
    return list(rows)


def _cards_to(state: SessionState) -> None:
    if state not in (SessionState.draft, SessionState.open):
        raise Conflict(f"Seat cards serve a vote to come: the session is {state.value}")


def _issue(
    session: Session, vs: VotingSession, user: User, seat: int, number: int, actor: str, base: str
) -> IssuedCard:
    code = new_code()
    session.add(
        SeatCard(
            session_id=_card_owner(session, vs),
            user_id=user.id or 0,
            number=number,
            code_hash=code_hash(code),
            issued_by=actor,
        )
    )
    return IssuedCard(
        username=user.username,
        display_name=user.display_name,
        seat=seat,
        number=number,
        code=code,
        url=card_url(base, vs.id or 0, code),
    )


def _cards_by_user(session: Session, vs: VotingSession) -> dict[int, list[SeatCard]]:
    out: dict[int, list[SeatCard]] = {}
    rows = session.exec(
        select(SeatCard)
        .where(SeatCard.session_id == _card_owner(session, vs))
        .order_by(col(SeatCard.number))
    )
    for card in rows:
        out.setdefault(card.user_id, []).append(card)
    return out


def issue_cards(session: Session, *, vs: VotingSession, actor: str, base: str) -> list[IssuedCard]:
    """A card for every deputy of the electorate without a valid one; the codes are answered
    this once (only their hashes are kept)."""
    _cards_to(_hold(session, vs, exclusive=True))
    cards = _cards_by_user(session, vs)
    issued = []
    for seat, user in enumerate(_seats(session, vs), start=1):
        mine = cards.get(user.id or 0, [])
        if any(c.revoked_at is None for c in mine):
            continue
        number = max((c.number for c in mine), default=0) + 1
        issued.append(_issue(session, vs, user, seat, number, actor, base))
    session.flush()
    audit.record(session, actor=actor, action="seat_card.issue", target=str(vs.id), n=len(issued))
    return issued


def _valid_card(session: Session, vs: VotingSession, username: str) -> tuple[User, SeatCard]:
    user = session.exec(select(User).where(User.username == username)).first()
    card = None
    if user is not None:
        card = session.exec(
            select(SeatCard).where(
                SeatCard.session_id == _card_owner(session, vs),
                SeatCard.user_id == user.id,
                col(SeatCard.revoked_at).is_(None),
            )
        ).first()
    if user is None or card is None:
        raise Conflict(f"{username} holds no valid seat card for this session")
    return user, card


def revoke_card(session: Session, *, vs: VotingSession, username: str, actor: str) -> None:
    """Revoke a deputy's card (lost, or handed to someone else): its code stops working."""
    _hold(session, vs, exclusive=True)
    _, card = _valid_card(session, vs, username)
    card.revoked_at, card.revoked_by = utcnow(), actor
    session.add(card)
    session.flush()
    audit.record(session, actor=actor, action="seat_card.revoke", target=str(vs.id), user=username)


def reissue_card(
    session: Session, *, vs: VotingSession, username: str, actor: str, base: str
) -> IssuedCard:
    """A new card for a deputy of the electorate; the old one, if valid, is revoked."""
    _cards_to(_hold(session, vs, exclusive=True))
    user = _deputy_of(session, vs, username, loc="path")
    mine = _cards_by_user(session, vs).get(user.id or 0, [])
    now = utcnow()
    for card in mine:
        if card.revoked_at is None:
            card.revoked_at, card.revoked_by = now, actor
            session.add(card)
    seat = next(i for i, u in enumerate(_seats(session, vs), start=1) if u.id == user.id)
    number = max((c.number for c in mine), default=0) + 1
    out = _issue(session, vs, user, seat, number, actor, base)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="seat_card.reissue",
        target=str(vs.id),
        user=username,
        number=number,
    )
    return out


def seat_cards(session: Session, *, vs: VotingSession) -> list[SeatCardRow]:
    """Each deputy of the electorate with their card's state (never a code)."""
    cards = _cards_by_user(session, vs)
    out = []
    for seat, user in enumerate(_seats(session, vs), start=1):
        mine = cards.get(user.id or 0, [])
        valid = next((c for c in mine if c.revoked_at is None), None)
        out.append(
            SeatCardRow(
                username=user.username,
                display_name=user.display_name,
                seat=seat,
                number=valid.number if valid is not None else None,
                issued_at=valid.issued_at if valid is not None else None,
                revoked=sum(1 for c in mine if c.revoked_at is not None),
            )
        )
    return out


def card_holder(
    session: Session,
    *,
    vs: VotingSession,
    code: str,
    on_refused: Callable[[], None] | None = None,
) -> User:
    """The deputy a valid card of this session belongs to; 403 for any other code (unknown,
    revoked, of another session) without saying which. ``on_refused`` counts the failure
    (the routes pass the rate limiter, which answers 429 past its limit)."""
    card = session.exec(
        select(SeatCard).where(
            SeatCard.code_hash == code_hash(code),
            col(SeatCard.session_id).in_(_card_sessions(session, vs)),
            col(SeatCard.revoked_at).is_(None),
        )
    ).first()
    user = session.get(User, card.user_id) if card is not None else None
    # A deputy taken off the electorate after the cards were printed holds a dead card.
    if user is None or not user.is_active or not is_member(session, vs=vs, user=user):
        if on_refused is not None:
            on_refused()
        raise Forbidden(CARD_REFUSED)
    return user


def _card_sessions(session: Session, vs: VotingSession) -> list[int]:
    """The sessions whose cards vote in this one: its own, and for a run-off those of the
    rounds before it (the run-off follows in the same sitting, with the same electorate)."""
    ids = [vs.id or 0]
    parent = vs.runoff_of_id
    while parent is not None and parent not in ids:
        ids.append(parent)
        parent = session.exec(
            select(VotingSession.runoff_of_id).where(VotingSession.id == parent)
        ).one()
    return ids


def _card_owner(session: Session, vs: VotingSession) -> int:
    """The session whose cards a deputy holds: a run-off's are its first round's, so the
    desk shows, revokes and reissues those."""
    return _card_sessions(session, vs)[-1]


def card_sign_in(
    session: Session,
    *,
    vs: VotingSession,
    code: str,
    on_refused: Callable[[], None] | None = None,
) -> AttendanceOut:
    """A deputy signs in with the seat card (409 if already signed in)."""
    user = card_holder(session, vs=vs, code=code, on_refused=on_refused)
    _sign_in(session, vs, user, "card", "")
    return attendance_summary(session, vs)


def is_present(session: Session, *, vs: VotingSession, user: User) -> bool:
    """Whether the deputy has signed in for the session."""
    return session.get(Attendance, (vs.id, user.id)) is not None


def card_ballot(
    session: Session,
    *,
    vs: VotingSession,
    code: str,
    data: BallotIn,
    on_refused: Callable[[], None] | None = None,
) -> Receipt:
    """Cast the card's deputy's ballot: the same checks and one-ballot guard as with a
    password; the card row is read, never written."""
    user = card_holder(session, vs=vs, code=code, on_refused=on_refused)
    return cast_ballot(session, vs=vs, user=user, data=data)
