"""Request and response models of the hall's attendance and seat cards (``hall_router``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from surveys.voting.schemas import AttendanceOut


class AttendanceIn(BaseModel):
    """An officer marks a deputy present."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)


class AttendanceRow(BaseModel):
    """One signed-in deputy (admins only)."""

    username: str
    display_name: str
    method: str  # "officer" | "card" | "carried"
    signed_in_at: datetime


class AttendanceView(AttendanceOut):
    """应到 / 实到 now and the quorum; once open, those present at opening (what the quorum
    and the result state); with ``?detail=true`` (admins) the list of those present."""

    present_at_opening: int | None = None
    deputies: list[AttendanceRow] | None = None


class CardCode(BaseModel):
    """A seat card's code, as printed (case, spaces and dashes do not matter)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64)


class CardBallotIn(CardCode):
    """A ballot cast with a seat card."""

    choices: dict[str, str]


class IssuedCard(BaseModel):
    """A card just issued: its code is answered this once, never stored."""

    username: str
    display_name: str
    seat: int  # the deputy's place in the electorate, by username
    number: int  # 1 for the deputy's first card, 2 after a reissue...
    code: str
    url: str  # what the QR encodes: the deputy's page with the code in the fragment


class SeatCardRow(BaseModel):
    """A deputy of the electorate and the state of their card (no code)."""

    username: str
    display_name: str
    seat: int
    number: int | None  # the valid card's number; None: no valid card
    issued_at: datetime | None
    revoked: int  # cards of this deputy revoked so far
