"""Residents' proposals: propose, support once each (best effort), review by admins.

A new proposal waits ("pending") until the office approves it, unless the office publishes
proposals at once (``Settings.proposals_need_approval``); callers pass that setting in."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from service import audit
from service.db import utcnow
from service.errors import Conflict, Invalid
from surveys.units.models import Unit
from surveys.voting.exceptions import AlreadySupported
from surveys.voting.models import (
    Project,
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


def create_proposal(
    session: Session, *, data: ProposalCreate, need_approval: bool = False
) -> Proposal:
    """Record a resident's proposal (anonymous): waiting for review when approval is needed,
    else public at once. The default suits seeded data; request handlers pass the setting."""
    check_category(data.category)
    proposal = Proposal(
        status=ProposalStatus.pending if need_approval else ProposalStatus.open,
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


def public_statuses(*, need_approval: bool) -> set[ProposalStatus]:
    """The states the public may see: never rejected ones, and waiting ones only when the
    office publishes proposals without review."""
    shown = {ProposalStatus.open, ProposalStatus.shortlisted, ProposalStatus.merged}
    if not need_approval:
        shown.add(ProposalStatus.pending)
    return shown


def is_public(proposal: Proposal, *, need_approval: bool) -> bool:
    """Whether the public may see (and support) this proposal."""
    return ProposalStatus(proposal.status) in public_statuses(need_approval=need_approval)


def list_proposals(
    session: Session,
    *,
    status: ProposalStatus | None = None,
    need_approval: bool = True,
    everything: bool = False,
) -> list[ProposalPublic]:
    """Proposals, most supported first: those the public may see (of the given state), or
    with ``everything`` (an admin) all of them, rejected and waiting ones included."""
    q = select(Proposal).order_by(col(Proposal.support_count).desc(), col(Proposal.id))
    shown = None if everything else public_statuses(need_approval=need_approval)
    if status is not None:
        if shown is not None and status not in shown:
            return []
        q = q.where(Proposal.status == status)
    elif shown is not None:
        q = q.where(col(Proposal.status).in_([s.value for s in shown]))
    rows = list(session.exec(q))
    units = units_by_id(session, {p.area_unit_id for p in rows})
    return [proposal_public(p, units) for p in rows]


@dataclass(frozen=True)
class MergedInto:
    """A merged proposal and what it now lives in: a kept proposal the public may see, or a
    project; ``into`` is "" when the kept proposal is no longer public."""

    id: int
    title: str
    into: str  # "proposal", "project" or ""
    into_id: int | None
    into_title: str
    into_title_en: str


def merged_proposals(session: Session, *, need_approval: bool = True) -> list[MergedInto]:
    """The public's merged proposals, newest first, each with where it went, so a merged
    proposal does not vanish from the public page without a trace."""
    rows = list(
        session.exec(
            select(Proposal)
            .where(Proposal.status == ProposalStatus.merged)
            .order_by(col(Proposal.id).desc())
        )
    )
    kept = {
        p.id: p
        for p in session.exec(
            select(Proposal).where(
                col(Proposal.id).in_({r.merged_into_id for r in rows if r.merged_into_id})
            )
        )
        if is_public(p, need_approval=need_approval)
    }
    project_ids = {r.project_id for r in rows if r.project_id and not r.merged_into_id}
    found = session.exec(select(Project).where(col(Project.id).in_(project_ids)))
    projects = {p.id: p for p in found}
    out = []
    for r in rows:
        target = kept.get(r.merged_into_id) if r.merged_into_id else None
        project = None if r.merged_into_id else projects.get(r.project_id)
        if target is not None:
            into = ("proposal", target.id, target.title, "")
        elif project is not None:
            into = ("project", project.id, project.title, project.title_en)
        else:
            into = ("", None, "", "")
        out.append(MergedInto(r.id or 0, r.title, *into))
    return out


def moderation_queue(session: Session, *, status: ProposalStatus | None = None) -> list[Proposal]:
    """Proposals for the office's review: waiting ones first, then newest first."""
    waiting_first = case((col(Proposal.status) == ProposalStatus.pending.value, 0), else_=1)
    q = select(Proposal).order_by(waiting_first, col(Proposal.id).desc())
    if status is not None:
        q = q.where(Proposal.status == status)
    return list(session.exec(q))


def proposals_of_project(session: Session, *, project_id: int) -> list[Proposal]:
    """The proposals that became this project or were merged into it, oldest first."""
    return list(
        session.exec(
            select(Proposal).where(Proposal.project_id == project_id).order_by(col(Proposal.id))
        )
    )


def waiting_count(session: Session) -> int:
    """How many proposals wait for review."""
    return session.exec(
        select(func.count()).select_from(Proposal).where(Proposal.status == ProposalStatus.pending)
    ).one()


def check_support(
    session: Session, *, proposal: Proposal, supporter_key: str, network_key: str
) -> None:
    """Whether this support may be counted: the proposal open, room left for the network,
    and no support from this client yet (a concurrent duplicate still fails on the key)."""
    if proposal.status == ProposalStatus.pending:
        raise Conflict("This proposal is waiting for review")
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
    """Approve, reject (the note is the reason), reopen, merge into another proposal or a
    project, or shortlist into a new project (admin). Every decision is audited; a decision
    that would not change the state is refused (409)."""
    if proposal.status == ProposalStatus.shortlisted:
        raise Conflict("This proposal is already a project")
    detail: dict[str, Any] = {"note": data.note, "from": ProposalStatus(proposal.status).value}
    if data.action == "approve":
        if proposal.status not in (ProposalStatus.pending, ProposalStatus.rejected):
            raise Conflict("Only a waiting or rejected proposal can be approved")
        proposal.status = ProposalStatus.open
    elif data.action == "reject":
        if proposal.status == ProposalStatus.rejected:
            raise Conflict("This proposal is already rejected")
        proposal.status = ProposalStatus.rejected
    elif data.action == "reopen":
        if proposal.status not in (ProposalStatus.rejected, ProposalStatus.merged):
            raise Conflict("Only a rejected or merged proposal can be reopened")
        proposal.status = ProposalStatus.open
        proposal.merged_into_id = None
        proposal.project_id = None
    elif data.action == "merge":
        if proposal.status == ProposalStatus.merged:
            raise Conflict("This proposal is already merged")
        detail |= _merge(session, proposal, data)
    else:  # shortlist, with the project's fields taken from the proposal
        if data.budget is None or not data.sponsor_unit_code:
            raise Invalid.field(("body", "budget"), "budget and sponsor_unit_code are required")
        draft = project_draft(session, proposal=proposal)
        draft |= {"budget": data.budget, "sponsor_unit_code": data.sponsor_unit_code}
        shortlist_proposal(
            session,
            proposal=proposal,
            data=ProjectCreate(**draft, title_en=data.title_en),
            actor=actor,
            note=data.note,
        )
        return proposal_view(session, proposal=proposal)
    proposal.review_note = data.note
    proposal.reviewed_at = utcnow()
    session.add(proposal)
    session.flush()
    audit.record(
        session, actor=actor, action=f"proposal.{data.action}", target=str(proposal.id), **detail
    )
    units = units_by_id(session, {proposal.area_unit_id})
    return proposal_public(proposal, units)


def _merge(session: Session, proposal: Proposal, data: ProposalReview) -> dict[str, Any]:
    """Merge a duplicate into another proposal (its supports move over) or into an
    existing project; returns what the audit entry records."""
    if (data.merge_into is None) == (data.merge_into_project is None):
        raise Invalid.field(
            ("body", "merge_into"), "one of merge_into or merge_into_project is required"
        )
    if data.merge_into_project is not None:
        project = session.get(Project, data.merge_into_project)
        if project is None:
            raise Invalid.field(("body", "merge_into_project"), "no such project")
        proposal.status = ProposalStatus.merged
        proposal.merged_into_id = None
        proposal.project_id = project.id
        return {"merge_into_project": project.id}
    target = session.get(Proposal, data.merge_into)
    if target is None or target.id == proposal.id:
        raise Invalid.field(("body", "merge_into"), "another existing proposal is required")
    if target.status not in (ProposalStatus.open, ProposalStatus.shortlisted):
        raise Invalid.field(("body", "merge_into"), "the target proposal is not open")
    proposal.status = ProposalStatus.merged
    proposal.merged_into_id = target.id
    # The duplicate's supports count for the target. Keys are per proposal (no supporter is
    # followed across proposals), so one who supported both is not recognised; the check
    # below only keeps the primary key (target, key) from being written twice.
    moved = session.exec(
        select(ProposalSupport).where(ProposalSupport.proposal_id == proposal.id)
    ).all()
    known = set(
        session.exec(
            select(ProposalSupport.supporter_key).where(ProposalSupport.proposal_id == target.id)
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
    return {"merge_into": target.id}


def project_draft(session: Session, *, proposal: Proposal) -> dict[str, Any]:
    """The project form's fields pre-filled from a proposal: title, description, category,
    area, and its rough cost as the budget (the office completes the sponsor)."""
    area = session.get(Unit, proposal.area_unit_id) if proposal.area_unit_id else None
    return {
        "title": proposal.title,
        "description": proposal.description,
        "category": proposal.category,
        "area_code": area.code if area else None,
        "budget": proposal.rough_cost,
    }


def shortlist_proposal(
    session: Session, *, proposal: Proposal, data: ProjectCreate, actor: str, note: str = ""
) -> Project:
    """Turn a proposal into a candidate project with the office's project fields (audited as
    ``proposal.shortlist``); 409 when it is already a project."""
    if proposal.status == ProposalStatus.shortlisted:
        raise Conflict("This proposal is already a project")
    before = ProposalStatus(proposal.status).value
    project = create_project(session, data=data)
    proposal.status = ProposalStatus.shortlisted
    proposal.project_id = project.id
    proposal.merged_into_id = None
    proposal.review_note = note
    proposal.reviewed_at = utcnow()
    session.add(proposal)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="proposal.shortlist",
        target=str(proposal.id),
        note=note,
        project_id=project.id,
        **{"from": before},
    )
    return project
