"""The scrutineers (监票人) of a vote's close.

A hall vote is counted under scrutineers, whether the ballots came from the seat cards or on
paper, so its close names them (at least two, checked as the paper count checks them). A
paper or mixed session whose hand count named them needs nothing more: those are the
scrutineers. A remote vote may name them and need not. The names go into the close's audit
entry and into the kept result, hence into the published record and the 计票报告."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import Session

from service.errors import Invalid
from surveys.voting.models import BallotMethod, SessionMode, VotingSession
from surveys.voting.paper import counted, paper_row
from surveys.voting.paper_schemas import _names


class CloseIn(BaseModel):
    """The optional body of a close: ``{"scrutineers": ["张三", "李四"]}``."""

    model_config = ConfigDict(extra="forbid")

    scrutineers: list[str] | None = Field(default=None, max_length=20)

    @field_validator("scrutineers")
    @classmethod
    def _check(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _names(value)


def close_names(session: Session, *, vs: VotingSession, given: list[str] | None) -> list[str]:
    """The scrutineers the close records: those named with it, else those of the paper
    count; a hall vote with neither is refused (422 naming ``scrutineers``)."""
    if given:
        return list(given)
    if vs.ballot_method != BallotMethod.electronic:
        row = paper_row(session, vs)
        if row is not None and counted(row) and row.scrutineers:
            return list(row.scrutineers)
    if vs.mode == SessionMode.hall:
        raise Invalid.field(
            ("body", "scrutineers"),
            "a hall vote is closed under at least two scrutineers (监票人): name them",
        )
    return []
