"""Requests and answers of the paper-ballot API (surveys.voting.paper)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SheetsPrint(_In):
    """Print ``count`` more sheets: they get the next serial numbers."""

    count: int = Field(ge=1, le=5000)


class PaperIssue(_In):
    """Hand out sheets: to one named deputy (``username``), or ``count`` sheets at once
    (a paper-only session)."""

    username: str | None = Field(default=None, min_length=1, max_length=64)
    count: int | None = Field(default=None, ge=1, le=5000)


class PaperBallotIn(_In):
    """One sheet from the ballot box: its serial and each marked candidate's mark."""

    serial: int = Field(ge=1, le=10**6)
    marks: dict[str, str] = Field(default_factory=dict, max_length=500)


class ChoiceCounts(_In):
    votes_for: int = Field(default=0, ge=0, le=10**6, alias="for")
    against: int = Field(default=0, ge=0, le=10**6)
    abstain: int = Field(default=0, ge=0, le=10**6)


def _names(value: list[str]) -> list[str]:
    names = [n.strip() for n in value]
    if any(not n for n in names):
        raise ValueError("a scrutineer's name is empty")
    if len(set(names)) != len(names):
        raise ValueError("a scrutineer is named twice")
    if len(names) < 2:
        raise ValueError("at least two scrutineers (监票人) must be named")
    return names


class PaperCountIn(_In):
    """The hand count, signed for by the scrutineers.

    ``per_candidate``: 收回 / 有效 / 无效 and the totals of the valid sheets per candidate.
    ``by_ballot``: the sheets were entered one by one; ``collected`` is the number the
    scrutineers counted out of the box, which must equal the sheets entered."""

    entry: Literal["per_candidate", "by_ballot"]
    collected: int = Field(ge=0, le=10**6)
    valid: int | None = Field(default=None, ge=0, le=10**6)
    invalid: int | None = Field(default=None, ge=0, le=10**6)
    counts: dict[str, ChoiceCounts] | None = None
    scrutineers: list[str] = Field(max_length=20)

    _check_names = field_validator("scrutineers")(_names)


class PaperBallotOut(BaseModel):
    serial: int
    marks: dict[str, str]
    valid: bool
    invalid_reason: str


class PaperState(BaseModel):
    """Where a session's paper ballots stand (发出 / 收回 / 有效 / 无效), and what is missing."""

    session_id: int
    ballot_method: str
    printed: int  # sheets printed: serials 1..printed
    issued: int  # 发出
    entered: int  # sheets entered one by one so far
    entered_valid: int
    counted: bool  # the hand count has been entered and reconciles
    entry: Literal["per_candidate", "by_ballot"] | None
    collected: int | None  # 收回
    valid: int | None  # 有效
    invalid: int | None  # 无效
    counts: dict[str, dict[str, int]]
    scrutineers: list[str]
    entered_by: str
    reconciled: bool
    problems: list[str]  # why it does not reconcile yet, in words (zh-CN)
