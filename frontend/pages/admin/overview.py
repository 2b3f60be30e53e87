"""The console's front page: what is open now and what happened last."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func
from sqlmodel import Session, col, select

from frontend.pages.admin.access import ConsoleAdmin, ConsoleRoute
from frontend.pages.admin.common import console_render
from service.audit import AuditEntry
from service.db import SessionDep
from surveys.forms.models import Access, Campaign
from surveys.forms.response_rate import response_rate
from surveys.forms.service import list_campaigns
from surveys.voting.ballots import turnout
from surveys.voting.models import Proposal, ProposalStatus, SessionState
from surveys.voting.proposals import waiting_count
from surveys.voting.sessions import list_sessions

router = APIRouter(route_class=ConsoleRoute)

RECENT_AUDIT = 10
# The state of a proposal that waits for the office's review.
WAITING = ProposalStatus.pending.value


@dataclass(frozen=True)
class OpenCampaign:
    id: int
    title: str
    title_en: str
    closes_at: Any
    responses: int
    flagged: int
    issued: int | None  # None for a campaign open to everyone (no codes, so no rate)
    used: int | None
    rate: float | None


@dataclass(frozen=True)
class OpenVote:
    id: int
    title: str
    title_en: str
    cast: int
    electorate: int

    @property
    def rate(self) -> float | None:
        return self.cast / self.electorate if self.electorate else None


def open_campaigns(session: Session) -> list[OpenCampaign]:
    """Campaigns open now, with responses and, for invitation campaigns, the response rate."""
    out = []
    for c in list_campaigns(session):
        if c.status != "open":
            continue
        issued = used = None
        share = None
        if c.access == Access.invitation:
            campaign = session.get(Campaign, c.id)
            assert campaign is not None
            rr = response_rate(session, campaign=campaign)
            issued, used, share = rr.issued, rr.used, rr.rate
        out.append(
            OpenCampaign(
                c.id,
                c.title,
                c.title_en,
                c.closes_at,
                c.response_count,
                c.flagged_count,
                issued,
                used,
                share,
            )
        )
    return out


def open_votes(session: Session) -> list[OpenVote]:
    """Voting sessions open now, with ballots cast out of the electorate."""
    out = []
    for vs in list_sessions(session, states=[SessionState.open]):
        t = turnout(session, vs=vs)
        out.append(OpenVote(vs.id or 0, vs.title, vs.title_en, t.cast, t.electorate))
    return out


def proposals_by_status(session: Session) -> dict[str, int]:
    """How many proposals are in each state (an admin's view: nothing here is published)."""
    rows = session.exec(select(Proposal.status, func.count()).group_by(col(Proposal.status))).all()
    return {str(getattr(status, "value", status)): int(n) for status, n in rows}


def recent_audit(session: Session, limit: int = RECENT_AUDIT) -> list[AuditEntry]:
    """The newest entries of the audit log, newest first."""
    q = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)
    return list(session.exec(q))


@router.get("/admin", response_class=HTMLResponse)
def overview_page(request: Request, admin: ConsoleAdmin, session: SessionDep) -> HTMLResponse:
    """The overview of open campaigns, open votes, waiting proposals and recent audit events."""
    by_status = proposals_by_status(session)
    ctx = {
        "section": "overview",
        "campaigns": open_campaigns(session),
        "votes": open_votes(session),
        # The moderation queue's own count, so the overview and /admin/proposals agree.
        "proposals_waiting": waiting_count(session),
        "waiting_state": WAITING,
        "proposals_total": sum(by_status.values()),
        "audit": recent_audit(session),
    }
    return console_render(request, "admin/overview.html", ctx)
