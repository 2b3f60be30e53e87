"""Routes of paper ballots: sheets, handing them out, the hand count, reconciliation."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from service.auth import AdminUser
from service.db import SessionDep
from surveys.voting import paper
from surveys.voting.dependencies import SessionById
from surveys.voting.paper_schemas import (
    PaperBallotIn,
    PaperBallotOut,
    PaperCountIn,
    PaperIssue,
    PaperState,
    SheetsPrint,
)

router = APIRouter(prefix="/api/v1", tags=["voting: paper ballots"])

BASE = "/voting-sessions/{session_id}/paper"


class PrintedSheets(BaseModel):
    first: int
    last: int


@router.get(BASE, response_model=PaperState)
def read_paper(admin: AdminUser, vs: SessionById, session: SessionDep) -> PaperState:
    """The paper ballots' reconciliation: printed, 发出 / 收回 / 有效 / 无效, what is missing (admin)."""
    return paper.paper_state(session, vs=vs)


@router.post(BASE + "/sheets", response_model=PrintedSheets, status_code=status.HTTP_201_CREATED)
def create_paper_sheets(
    admin: AdminUser, vs: SessionById, data: SheetsPrint, session: SessionDep
) -> PrintedSheets:
    """Record N more printed sheets and answer their serial range (admin; audited); the
    console prints them at /admin/voting-sessions/{id}/paper/sheets."""
    serials = paper.print_sheets(session, vs=vs, count=data.count, actor=admin.username)
    return PrintedSheets(first=serials[0], last=serials[-1])


@router.post(BASE + "/issue", response_model=PaperState, status_code=status.HTTP_201_CREATED)
def create_paper_issue(
    admin: AdminUser, vs: SessionById, data: PaperIssue, session: SessionDep
) -> PaperState:
    """Hand out a sheet to a named deputy (409 if they voted already; they cannot vote
    electronically after), or N sheets in a paper-only session (admin; audited); 409 naming
    the numbers when sheets and electronic ballots would outnumber the deputies present
    (hall) or seated."""
    paper.issue_sheets(session, vs=vs, data=data, actor=admin.username)
    return paper.paper_state(session, vs=vs)


@router.post(BASE + "/ballots", response_model=PaperBallotOut, status_code=status.HTTP_201_CREATED)
def create_paper_ballot(
    admin: AdminUser, vs: SessionById, data: PaperBallotIn, session: SessionDep
) -> PaperBallotOut:
    """Enter one sheet by its serial; the answer says whether it is valid and why not (admin;
    audited; 409 for a serial entered twice)."""
    return paper.enter_ballot(session, vs=vs, data=data, actor=admin.username)


@router.delete(BASE + "/ballots/{serial}", status_code=status.HTTP_204_NO_CONTENT)
def delete_paper_ballot(
    admin: AdminUser, vs: SessionById, serial: int, session: SessionDep
) -> Response:
    """Take back a sheet entered by mistake, before the count is entered (admin; audited)."""
    paper.delete_ballot(session, vs=vs, serial=serial, actor=admin.username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(BASE + "/ballots", response_model=list[PaperBallotOut])
def read_paper_ballots(
    admin: AdminUser, vs: SessionById, session: SessionDep
) -> list[PaperBallotOut]:
    """The sheets entered one by one so far, by serial (admin)."""
    return paper.entered_ballots(session, vs=vs)


@router.put(BASE + "/count", response_model=PaperState)
def update_paper_count(
    admin: AdminUser, vs: SessionById, data: PaperCountIn, session: SessionDep
) -> PaperState:
    """Enter the hand count with at least two scrutineers (admin; audited); 409 naming the
    numbers when it does not add up (valid + invalid != collected, a project with more marks
    than valid sheets). More collected than issued is kept as counted and declares the vote
    void (表决无效): the close then counts nothing (surveys.voting.paper_void)."""
    return paper.enter_count(session, vs=vs, data=data, actor=admin.username)
