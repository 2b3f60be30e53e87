"""Residents' proposals: propose, support once each (best effort), review by admins."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from service import audit
from service.errors import Conflict, Invalid
from surveys.units.models import Unit
from surveys.voting.exceptions import AlreadySupported
from surveys.voting.models import (
    ProjectCreate,
    Proposal,
    ProposalCreate,
    ProposalPublic,
    ProposalReview,
    ProposalStatus,
    ProposalSupport,
    SupportResult,
)
from surveys.voting.projects import check_category, create_project, unit_id_for_code, units_by_id

# At most this many supports of one proposal from one network (an office behind one
# address may hold many residents; a flood from one address is stopped here).
SUPPORTS_PER_NETWORK = 50


def keyed_hash(secret: str, purpose: str, *parts: object) -> str:
    """HMAC-SHA256 of the parts under the service secret (identifies nobody without it)."""
    msg = "\x1f".join([purpose, *map(str, parts)]).encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def create_proposal(session: Session, *, data: ProposalCreate) -> Proposal:
    """Record a resident's proposal (anonymous; public at once, reviewed by admins)."""
    check_category(data.category)
    proposal = Proposal(
        title=data.title,
        description=data.description,
        category=data.category,
        area_unit_id=unit_id_for_code(session, data.area_code, ("body", "area_code")),
        rough_cost=data.rough_cost,
    )
    session.add(proposal)
    session.flush()
    return proposal


def proposal_view(session: Session, *, proposal: Proposal) -> ProposalPublic:
    """The public view of one proposal."""
    return proposal_public(proposal, units_by_id(session, {proposal.area_unit_id}))


def proposal_public(proposal: Proposal, units: dict[int, Unit]) -> ProposalPublic:
    """The public view of a proposal, with its area among the given units."""
    area = units.get(proposal.area_unit_id or 0)
    return ProposalPublic(
        id=proposal.id or 0,
        title=proposal.title,
        description=proposal.description,
        category=proposal.category,
        area_code=area.code if area else None,
        area_name=area.name if area else None,
        rough_cost=proposal.rough_cost,
        status=proposal.status,
        support_count=proposal.support_count,
        merged_into_id=proposal.merged_into_id,
        project_id=proposal.project_id,
        created_on=proposal.created_at.date(),
    )


def list_proposals(
    session: Session, *, status: ProposalStatus | None = None
) -> list[ProposalPublic]:
    """Proposals, most supported first (rejected ones only when asked for)."""
    q = select(Proposal).order_by(col(Proposal.support_count).desc(), col(Proposal.id))
    if status is not None:
        q = q.where(Proposal.status == status)
    else:
        q = q.where(Proposal.status != ProposalStatus.rejected)
    rows = list(session.exec(q))
    units = units_by_id(session, {p.area_unit_id for p in rows})
    return [proposal_public(p, units) for p in rows]


def check_support(
    session: Session, *, proposal: Proposal, supporter_key: str, network_key: str
) -> None:
    """Whether this support may be counted: the proposal open, room left for the network,
    and no support from this client yet (a concurrent duplicate still fails on the key)."""
    if proposal.status != ProposalStatus.open:
        raise Conflict("This proposal no longer collects support")
    from_network = session.exec(
        select(func.count())
        .select_from(ProposalSupport)
        .where(
            ProposalSupport.proposal_id == proposal.id,
            ProposalSupport.network_key == network_key,
        )
    ).one()
    if from_network >= SUPPORTS_PER_NETWORK:
        raise Conflict("Too many supports of this proposal from your network")
    if session.get(ProposalSupport, (proposal.id, supporter_key)) is not None:
        raise AlreadySupported("You have already supported this proposal")


def support_proposal(
    session: Session, *, proposal: Proposal, supporter_key: str, network_key: str
) -> SupportResult:
    """Count one support per client token (and at most SUPPORTS_PER_NETWORK per network)."""
    check_support(session, proposal=proposal, supporter_key=supporter_key, network_key=network_key)
    session.add(
        ProposalSupport(
            proposal_id=proposal.id or 0, supporter_key=supporter_key, network_key=network_key
        )
    )
    try:
        session.flush()
    except IntegrityError as exc:  # the request's transaction is rolled back
        raise AlreadySupported("You have already supported this proposal") from exc
    session.execute(
        update(Proposal)
        .where(col(Proposal.id) == proposal.id)
        .values(support_count=Proposal.support_count + 1)
    )
    session.flush()
    session.refresh(proposal)
    return SupportResult(proposal_id=proposal.id or 0, support_count=proposal.support_count)


def review_proposal(
    session: Session, *, proposal: Proposal, data: ProposalReview, actor: str
) -> ProposalPublic:
    """Reject, reopen, merge into another proposal, or shortlist into a project (admin)."""
    if proposal.status == ProposalStatus.shortlisted:
        raise Conflict("This proposal is already a project")
    detail: dict[str, Any] = {"note": data.note}
    if data.action == "reject":
        proposal.status = ProposalStatus.rejected
    elif data.action == "reopen":
        proposal.status = ProposalStatus.open
        proposal.merged_into_id = None
    elif data.action == "merge":
        target = session.get(Proposal, data.merge_into) if data.merge_into else None
        if target is None or target.id == proposal.id:
            raise Invalid.field(("body", "merge_into"), "another existing proposal is required")
        if target.status not in (ProposalStatus.open, ProposalStatus.shortlisted):
            raise Invalid.field(("body", "merge_into"), "the target proposal is not open")
        proposal.status = ProposalStatus.merged
        proposal.merged_into_id = target.id
        # The duplicate's supporters count for the target, once each.
        moved = session.exec(
            select(ProposalSupport).where(ProposalSupport.proposal_id == proposal.id)
        ).all()
        known = set(
            session.exec(
                select(ProposalSupport.supporter_key).where(
                    ProposalSupport.proposal_id == target.id
                )
            )
        )
        fresh = [m for m in moved if m.supporter_key not in known]
        for m in fresh:
            session.add(
                ProposalSupport(
                    proposal_id=target.id or 0,
                    supporter_key=m.supporter_key,
                    network_key=m.network_key,
                )
            )
        target.support_count += len(fresh)
        session.add(target)
        detail["merge_into"] = target.id
    else:  # shortlist
        if data.budget is None or not data.sponsor_unit_code:
            raise Invalid.field(("body", "budget"), "budget and sponsor_unit_code are required")
        area = session.get(Unit, proposal.area_unit_id) if proposal.area_unit_id else None
        project = create_project(
            session,
            data=ProjectCreate(
                title=proposal.title,
                title_en=data.title_en,
                description=proposal.description,
                category=proposal.category,
                budget=data.budget,
                sponsor_unit_code=data.sponsor_unit_code,
                area_code=area.code if area else None,
            ),
        )
        proposal.status = ProposalStatus.shortlisted
        proposal.project_id = project.id
        detail["project_id"] = project.id
    proposal.review_note = data.note
    session.add(proposal)
    session.flush()
    audit.record(
        session, actor=actor, action=f"proposal.{data.action}", target=str(proposal.id), **detail
    )
    units = units_by_id(session, {proposal.area_unit_id})
    return proposal_public(proposal, units)
