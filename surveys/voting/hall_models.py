"""Tables of the vote in the congress hall (大会现场票决): attendance, seat cards, paper counts.

Attendance and seat cards name deputies; ballots never do. A card's code is kept only as its
SHA-256, and voting with it writes the same ``voting_voter`` row as voting with a password:
the one-ballot guard is the same, and nothing joins a ballot to a card or to a sign-in.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, String
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime, utcnow


class Attendance(SQLModel, table=True):
    """A deputy signed in for a session (实到): by an officer or with the seat card."""

    __tablename__ = "voting_attendance"

    session_id: int = Field(foreign_key="voting_session.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", primary_key=True)
    method: str = Field(default="officer", sa_type=String(8))  # "officer" | "card" | "carried"
    signed_in_by: str = Field(default="", max_length=64)  # the officer; empty for a card
    signed_in_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SeatCard(SQLModel, table=True):
    """A deputy's seat card for one hall session: a one-time code printed with its QR.

    Only the code's SHA-256 is kept. Revoking (a lost card) sets ``revoked_at``; a new card
    for the same deputy gets the next ``number``. At most one unrevoked card per deputy.
    """

    __tablename__ = "voting_seat_card"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="voting_session.id", index=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="user_account.id", index=True)
    number: int = 1  # 1 for the first card of this deputy, 2 after a reissue, ...
    code_hash: str = Field(max_length=64, unique=True)
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    issued_by: str = Field(default="", max_length=64)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: str = Field(default="", max_length=64)


class PaperCount(SQLModel, table=True):
    """The paper ballots of a session, as counted by hand under the scrutineers (监票人).

    ``issued`` / ``collected`` / ``valid`` / ``invalid`` are the reconciliation (发出 / 收回 /
    有效 / 无效); ``counts`` the per-candidate totals of the valid ones,
    ``{"<project id>": {"for": n, "against": n, "abstain": n}}`` (entered directly, or the
    sum of the ``PaperBallot`` rows when entered ballot by ballot).
    """

    __tablename__ = "voting_paper_count"

    session_id: int = Field(foreign_key="voting_session.id", primary_key=True, ondelete="CASCADE")
    entry: str = Field(default="per_candidate", sa_type=String(16))  # | "by_ballot"
    # Sheets printed, serials 1..printed (surveys.voting.paper); issued <= printed.
    printed: int = 0
    issued: int = 0
    collected: int = 0
    valid: int = 0
    invalid: int = 0
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    scrutineers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    entered_by: str = Field(default="", max_length=64)
    entered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PaperBallot(SQLModel, table=True):
    """One paper ballot entered by hand, by the serial number printed on its sheet."""

    __tablename__ = "voting_paper_ballot"

    session_id: int = Field(foreign_key="voting_session.id", primary_key=True, ondelete="CASCADE")
    serial: int = Field(primary_key=True)
    # {"<project id>": "for" | "against" | "abstain"}; unmarked candidates are absent.
    marks: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    valid: bool = True
    invalid_reason: str = Field(default="", max_length=200)
