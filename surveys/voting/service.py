"""Proposals, projects, voting sessions, secret ballots, counting, publication, export."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from service import audit
from service.db import utcnow
from service.errors import Conflict, Forbidden, Invalid, error_item
from service.models import Role, User
from surveys.units.models import Unit, UnitCreate, UnitKind
from surveys.units.service import create_unit, unit_by_code
from surveys.voting import pabulib, rules
from surveys.voting.models import (
    CATEGORIES,
    SATISFACTION_CHOICES,
    SELECTION_CHOICES,
    Ballot,
    BallotIn,
    BallotMark,
    Project,
    ProjectCreate,
    ProjectPublic,
    ProjectStatus,
    ProjectUpdate,
    ProjectUpdateCreate,
    ProjectUpdatePublic,
    Proposal,
    ProposalCreate,
    ProposalPublic,
    ProposalReview,
    ProposalStatus,
    ProposalSupport,
    PublicBallot,
    Receipt,
    SessionCreate,
    SessionDeputy,
    SessionKind,
    SessionProject,
    SessionPublic,
    SessionState,
    SessionUpdate,
    SlateItem,
    SupportResult,
    Turnout,
    Voter,
    VotingSession,
)

# At most this many supports of one proposal from one network (an office behind one
# address may hold many residents; a flood from one address is stopped here).
SUPPORTS_PER_NETWORK = 50
RECEIPT_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
RECEIPT_LENGTH = 20  # 31**20 ~ 2**99: not guessable, so its public hash reveals nothing


def keyed_hash(secret: str, purpose: str, *parts: object) -> str:
    """HMAC-SHA256 of the parts under the service secret (identifies nobody without it)."""
    msg = "\x1f".join([purpose, *map(str, parts)]).encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


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


def _units(session: Session, ids: set[int | None]) -> dict[int, Unit]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.exec(select(Unit).where(col(Unit.id).in_(wanted)))}  # type: ignore[misc]


def _unit_id_for_code(session: Session, code: str | None, loc: tuple[str, ...]) -> int | None:
    if not code:
        return None
    unit = unit_by_code(session, code)
    if unit is None:
        raise Invalid.field(loc, f"unknown unit code '{code}'")
    return unit.id


def _check_category(category: str) -> None:
    if category not in CATEGORIES:
        raise Invalid.field(("body", "category"), "one of: " + ", ".join(CATEGORIES))


# --- proposals ------------------------------------------------------------------------------


def create_proposal(session: Session, *, data: ProposalCreate) -> Proposal:
    """Record a resident's proposal (anonymous; public at once, reviewed by admins)."""
    _check_category(data.category)
    proposal = Proposal(
        title=data.title,
        description=data.description,
        category=data.category,
        area_unit_id=_unit_id_for_code(session, data.area_code, ("body", "area_code")),
        rough_cost=data.rough_cost,
    )
    session.add(proposal)
    session.flush()
    return proposal


def proposal_view(session: Session, *, proposal: Proposal) -> ProposalPublic:
    """The public view of one proposal."""
    return proposal_public(proposal, _units(session, {proposal.area_unit_id}))


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
    units = _units(session, {p.area_unit_id for p in rows})
    return [proposal_public(p, units) for p in rows]


def support_proposal(
    session: Session, *, proposal: Proposal, supporter_key: str, network_key: str
) -> SupportResult:
    """Count one support per client token (and at most SUPPORTS_PER_NETWORK per network)."""
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
    session.add(
        ProposalSupport(
            proposal_id=proposal.id or 0, supporter_key=supporter_key, network_key=network_key
        )
    )
    try:
        session.flush()
    except IntegrityError as exc:  # the request's transaction is rolled back
        raise Conflict("You have already supported this proposal") from exc
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
    units = _units(session, {proposal.area_unit_id})
    return proposal_public(proposal, units)


# --- projects -------------------------------------------------------------------------------


def create_project(session: Session, *, data: ProjectCreate, actor: str | None = None) -> Project:
    """Create a candidate project (sponsor and area are units, by code); audited for an actor."""
    _check_category(data.category)
    sponsor = _unit_id_for_code(session, data.sponsor_unit_code, ("body", "sponsor_unit_code"))
    project = Project(
        title=data.title.strip(),
        title_en=data.title_en.strip(),
        description=data.description.strip(),
        description_en=data.description_en.strip(),
        category=data.category,
        budget=data.budget,
        sponsor_unit_id=sponsor or 0,
        area_unit_id=_unit_id_for_code(session, data.area_code, ("body", "area_code")),
    )
    session.add(project)
    session.flush()
    if actor is not None:
        audit.record(session, actor=actor, action="project.create", target=str(project.id))
    return project


def _project_public(
    p: Project, units: dict[int, Unit], updates: list[ProjectUpdate] | None = None
) -> ProjectPublic:
    sponsor = units.get(p.sponsor_unit_id)
    area = units.get(p.area_unit_id or 0)
    unit = units.get(p.unit_id or 0)
    return ProjectPublic(
        id=p.id or 0,
        title=p.title,
        title_en=p.title_en,
        description=p.description,
        description_en=p.description_en,
        category=p.category,
        budget=p.budget,
        sponsor_unit_code=sponsor.code if sponsor else "",
        sponsor_name=sponsor.name if sponsor else "",
        sponsor_name_en=sponsor.name_en if sponsor else "",
        area_code=area.code if area else None,
        area_name=area.name if area else None,
        status=p.status,
        unit_code=unit.code if unit else None,
        percent_done=p.percent_done,
        updates=[
            ProjectUpdatePublic(
                id=u.id or 0, date=u.on_date, percent_done=u.percent_done, note=u.note
            )
            for u in updates or []
        ],
    )


def list_projects(
    session: Session, *, statuses: list[ProjectStatus] | None = None, with_updates: bool = False
) -> list[ProjectPublic]:
    """Projects (optionally of some statuses), newest first, with their progress updates."""
    q = select(Project).order_by(col(Project.id).desc())
    if statuses:
        q = q.where(col(Project.status).in_(statuses))
    projects = list(session.exec(q))
    units = _units(
        session,
        {p.sponsor_unit_id for p in projects}
        | {p.area_unit_id for p in projects}
        | {p.unit_id for p in projects},
    )
    updates: dict[int, list[ProjectUpdate]] = defaultdict(list)
    if with_updates and projects:
        for u in session.exec(
            select(ProjectUpdate)
            .where(col(ProjectUpdate.project_id).in_([p.id for p in projects]))
            .order_by(col(ProjectUpdate.on_date).desc(), col(ProjectUpdate.id).desc())
        ):
            updates[u.project_id].append(u)
    return [_project_public(p, units, updates.get(p.id or 0, [])) for p in projects]


def project_public(session: Session, *, project: Project) -> ProjectPublic:
    """One project with its progress updates, newest first."""
    units = _units(session, {project.sponsor_unit_id, project.area_unit_id, project.unit_id})
    updates = list(
        session.exec(
            select(ProjectUpdate)
            .where(ProjectUpdate.project_id == project.id)
            .order_by(col(ProjectUpdate.on_date).desc(), col(ProjectUpdate.id).desc())
        )
    )
    return _project_public(project, units, updates)


IMPLEMENTATION = (ProjectStatus.selected, ProjectStatus.in_progress, ProjectStatus.completed)


def add_progress(
    session: Session, *, project: Project, data: ProjectUpdateCreate, actor: str
) -> ProjectUpdatePublic:
    """Report progress on a selected project; its status follows (in progress, completed)."""
    if project.status not in IMPLEMENTATION:
        raise Conflict("Only selected projects have implementation progress")
    row = ProjectUpdate(
        project_id=project.id or 0,
        on_date=data.date,
        percent_done=data.percent_done,
        note=data.note.strip(),
        author=actor,
    )
    session.add(row)
    session.flush()
    latest = session.exec(
        select(ProjectUpdate)
        .where(ProjectUpdate.project_id == project.id)
        .order_by(col(ProjectUpdate.on_date).desc(), col(ProjectUpdate.id).desc())
        .limit(1)
    ).one()
    project.percent_done = latest.percent_done
    if latest.percent_done >= 100:
        project.status = ProjectStatus.completed
    elif latest.percent_done > 0:
        project.status = ProjectStatus.in_progress
    session.add(project)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="project.progress",
        target=str(project.id),
        percent_done=data.percent_done,
        date=data.date.isoformat(),
    )
    return ProjectUpdatePublic(
        id=row.id or 0, date=row.on_date, percent_done=row.percent_done, note=row.note
    )


# --- sessions: configuration ----------------------------------------------------------------


def _parse_threshold(value: Any) -> rules.Threshold:
    try:
        return rules.Threshold.parse(value)
    except ValueError as exc:
        raise Invalid.field(("body", "threshold"), str(exc)) from exc


def _resolve_projects(session: Session, ids: list[int], kind: SessionKind) -> list[Project]:
    if len(set(ids)) != len(ids):
        raise Invalid.field(("body", "project_ids"), "a project is listed twice")
    found = {p.id: p for p in session.exec(select(Project).where(col(Project.id).in_(ids)))}
    errors = []
    for i, pid in enumerate(ids):
        p = found.get(pid)
        if p is None:
            errors.append(error_item(["body", "project_ids", i], f"unknown project {pid}"))
        elif kind == SessionKind.satisfaction and p.status not in IMPLEMENTATION:
            errors.append(error_item(["body", "project_ids", i], f"project {pid} was not selected"))
        elif kind == SessionKind.selection and p.status in IMPLEMENTATION:
            errors.append(
                error_item(["body", "project_ids", i], f"project {pid} is already selected")
            )
    if errors:
        raise Invalid(errors)
    return [found[i] for i in ids]


def _resolve_deputies(session: Session, names: list[str]) -> list[User]:
    if len(set(names)) != len(names):
        raise Invalid.field(("body", "deputy_usernames"), "a deputy is listed twice")
    found: dict[str, User] = {}
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        for u in session.exec(select(User).where(col(User.username).in_(chunk))):
            found[u.username] = u
    errors = []
    for i, name in enumerate(names):
        dep = found.get(name)
        if dep is None or dep.role != Role.deputy or not dep.is_active:
            errors.append(
                error_item(
                    ["body", "deputy_usernames", i], f"'{name}' is not an active deputy account"
                )
            )
    if errors:
        raise Invalid(errors)
    return [found[n] for n in names]


def _check_selection_numbers(kind: SessionKind, budget_cap: int, n_projects: int) -> None:
    if kind == SessionKind.selection and budget_cap < 1:
        raise Invalid.field(("body", "budget_cap"), "a selection session needs a budget cap")


def create_session(session: Session, *, data: SessionCreate, actor: str) -> VotingSession:
    """Create a draft voting session with its slate and electorate (admin)."""
    threshold = _parse_threshold(data.threshold)
    _check_selection_numbers(data.kind, data.budget_cap, len(data.project_ids))
    projects = _resolve_projects(session, data.project_ids, data.kind)
    deputies = _resolve_deputies(session, data.deputy_usernames)
    vs = VotingSession(
        kind=data.kind,
        title=data.title.strip(),
        title_en=data.title_en.strip(),
        year=data.year,
        budget_cap=data.budget_cap,
        max_selected=data.max_selected,
        max_for_per_ballot=data.max_for_per_ballot,
        threshold=threshold.as_json(),
        on_no_fit=data.on_no_fit,
    )
    session.add(vs)
    session.flush()
    _set_slate(session, vs, projects)
    _set_electorate(session, vs, deputies)
    audit.record(
        session,
        actor=actor,
        action="voting_session.create",
        target=str(vs.id),
        kind=SessionKind(vs.kind).value,
        projects=len(projects),
        electorate=len(deputies),
    )
    return vs


def _set_slate(session: Session, vs: VotingSession, projects: list[Project]) -> None:
    session.execute(delete(SessionProject).where(col(SessionProject.session_id) == vs.id))
    session.add_all(
        [
            SessionProject(session_id=vs.id or 0, project_id=p.id or 0, position=i)
            for i, p in enumerate(projects)
        ]
    )
    session.flush()


def _set_electorate(session: Session, vs: VotingSession, deputies: list[User]) -> None:
    session.execute(delete(SessionDeputy).where(col(SessionDeputy.session_id) == vs.id))
    if deputies:
        session.execute(
            insert(SessionDeputy),
            [{"session_id": vs.id, "user_id": u.id} for u in deputies],
        )
    session.flush()


def _lock(session: Session, vs: VotingSession) -> VotingSession:
    """Re-read the session row under an exclusive lock before changing its state.

    PostgreSQL: SELECT ... FOR UPDATE waits for every ballot transaction that holds the
    row (their voter and ballot inserts reference it). SQLite has no row locks: a no-op
    write takes the database write lock, which serialises this with every ballot.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(VotingSession)
            .where(col(VotingSession.id) == vs.id)
            .values(state=VotingSession.state)
        )
    locked = session.exec(
        select(VotingSession).where(VotingSession.id == vs.id).with_for_update()
    ).one()
    session.refresh(locked)
    return locked


def update_session(
    session: Session, *, vs: VotingSession, data: SessionUpdate, actor: str
) -> VotingSession:
    """Change a draft session; once open its slate, budget, electorate and rule are frozen."""
    vs = _lock(session, vs)
    if vs.state != SessionState.draft:
        raise Conflict("The session is no longer a draft: its configuration is frozen")
    changes = data.model_dump(exclude_unset=True)
    if "threshold" in changes:
        vs.threshold = _parse_threshold(changes.pop("threshold")).as_json()
    if "project_ids" in changes:
        _set_slate(session, vs, _resolve_projects(session, changes.pop("project_ids"), vs.kind))
    if "deputy_usernames" in changes:
        _set_electorate(session, vs, _resolve_deputies(session, changes.pop("deputy_usernames")))
    for key, value in changes.items():
        setattr(vs, key, value.strip() if isinstance(value, str) else value)
    _check_selection_numbers(vs.kind, vs.budget_cap, 1)
    session.add(vs)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="voting_session.update",
        target=str(vs.id),
        fields=sorted(data.model_dump(exclude_unset=True)),
    )
    return vs


def _slate(session: Session, vs: VotingSession) -> list[Project]:
    rows = session.exec(
        select(Project)
        .join(SessionProject, col(SessionProject.project_id) == col(Project.id))
        .where(SessionProject.session_id == vs.id)
        .order_by(col(SessionProject.position))
    )
    return list(rows)


def _deputy_names(session: Session, vs: VotingSession) -> list[str]:
    rows = session.exec(
        select(User.username)
        .join(SessionDeputy, col(SessionDeputy.user_id) == col(User.id))
        .where(SessionDeputy.session_id == vs.id)
        .order_by(col(User.username))
    )
    return list(rows)


def electorate_size(session: Session, vs: VotingSession) -> int:
    """Seated deputies (for an imported election: its number of voters)."""
    if vs.frozen_config is not None:
        return int(vs.frozen_config["electorate_size"])
    return int(
        session.exec(
            select(func.count()).select_from(SessionDeputy).where(SessionDeputy.session_id == vs.id)
        ).one()
    )


def _slate_items(session: Session, vs: VotingSession) -> list[SlateItem]:
    if vs.frozen_config is not None:
        return [SlateItem(**item) for item in vs.frozen_config["projects"]]
    projects = _slate(session, vs)
    wanted: set[int | None] = {p.sponsor_unit_id for p in projects}
    units = _units(session, wanted | {p.area_unit_id for p in projects})
    items = []
    for p in projects:
        sponsor = units.get(p.sponsor_unit_id)
        area = units.get(p.area_unit_id or 0)
        items.append(
            SlateItem(
                project_id=p.id or 0,
                title=p.title,
                title_en=p.title_en,
                description=p.description,
                description_en=p.description_en,
                category=p.category,
                budget=p.budget,
                sponsor_name=sponsor.name if sponsor else "",
                sponsor_name_en=sponsor.name_en if sponsor else "",
                area_name=area.name if area else None,
            )
        )
    return items


def session_public(session: Session, *, vs: VotingSession) -> SessionPublic:
    """A session's configuration, slate and state (never who voted or how)."""
    return SessionPublic(
        id=vs.id or 0,
        kind=vs.kind,
        title=vs.title,
        title_en=vs.title_en,
        year=vs.year,
        state=vs.state,
        budget_cap=vs.budget_cap,
        max_selected=vs.max_selected,
        max_for_per_ballot=vs.max_for_per_ballot,
        threshold=vs.threshold,
        on_no_fit=vs.on_no_fit,
        electorate=electorate_size(session, vs),
        projects=_slate_items(session, vs),
        config_hash=vs.config_hash,
        opened_at=vs.opened_at,
        closed_at=vs.closed_at,
        published_at=vs.published_at,
    )


def list_sessions(
    session: Session, *, states: list[SessionState] | None = None
) -> list[VotingSession]:
    """Sessions, newest first."""
    q = select(VotingSession).order_by(col(VotingSession.id).desc())
    if states:
        q = q.where(col(VotingSession.state).in_(states))
    return list(session.exec(q))


def _frozen_config(session: Session, vs: VotingSession, deputies: list[str]) -> dict[str, Any]:
    return {
        "session_id": vs.id,
        "kind": SessionKind(vs.kind).value,
        "title": vs.title,
        "title_en": vs.title_en,
        "year": vs.year,
        "budget_cap": vs.budget_cap,
        "max_selected": vs.max_selected,
        "max_for_per_ballot": vs.max_for_per_ballot,
        "threshold": vs.threshold,
        "on_no_fit": vs.on_no_fit,
        "projects": [i.model_dump() for i in _slate_items(session, vs)],
        "deputies": deputies,
        "electorate_size": len(deputies),
    }


# --- sessions: state changes ----------------------------------------------------------------


def open_session(session: Session, *, vs: VotingSession, actor: str) -> VotingSession:
    """Draft -> open: freeze and hash the configuration; ballots are accepted from now on."""
    vs = _lock(session, vs)
    if vs.state != SessionState.draft:
        raise Conflict(f"Only a draft session can be opened (it is {SessionState(vs.state).value})")
    deputies = _deputy_names(session, vs)
    if not deputies:
        raise Conflict("The session has no electorate")
    slate = _slate(session, vs)
    if vs.kind == SessionKind.selection:
        for p in slate:
            if p.status in IMPLEMENTATION:
                raise Conflict(f"Project {p.id} is already selected")
            p.status = ProjectStatus.on_ballot
            session.add(p)
    vs.frozen_config = _frozen_config(session, vs, deputies)
    vs.config_hash = rules.config_hash(vs.frozen_config)
    vs.state = SessionState.open
    vs.opened_at = utcnow()
    session.add(vs)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="voting_session.open",
        target=str(vs.id),
        config_hash=vs.config_hash,
        electorate=len(deputies),
    )
    return vs


def close_session(session: Session, *, vs: VotingSession, actor: str) -> VotingSession:
    """Open -> closed: no ballot gets in any more; the result is counted and kept."""
    vs = _lock(session, vs)
    if vs.state != SessionState.open:
        raise Conflict(f"Only an open session can be closed (it is {SessionState(vs.state).value})")
    vs.state = SessionState.closed
    vs.closed_at = utcnow()
    reshuffle_ballots(session, vs=vs)
    vs.result = count(session, vs=vs)
    session.add(vs)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="voting_session.close",
        target=str(vs.id),
        cast=vs.result["cast"],
        electorate=vs.result["electorate"],
    )
    return vs


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
    session.execute(delete(Ballot).where(Ballot.session_id == vs.id))
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


def publish_session(session: Session, *, vs: VotingSession, actor: str) -> VotingSession:
    """Closed -> published: results and ballots become public; selected projects become units."""
    vs = _lock(session, vs)
    if vs.state != SessionState.closed:
        raise Conflict(
            f"Only a closed session can be published (it is {SessionState(vs.state).value})"
        )
    assert vs.frozen_config is not None and vs.result is not None
    if rules.config_hash(vs.frozen_config) != vs.config_hash:
        raise Conflict("The frozen configuration does not match its hash")
    if vs.kind == SessionKind.selection:
        chosen = {r["project_id"] for r in vs.result["projects"] if r["selected"]}
        for p in _slate(session, vs):
            if p.id in chosen:
                p.status = ProjectStatus.selected
                p.unit_id = _project_unit(session, p).id
            elif p.status == ProjectStatus.on_ballot:
                p.status = ProjectStatus.not_selected
            session.add(p)
    vs.state = SessionState.published
    vs.published_at = utcnow()
    session.add(vs)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="voting_session.publish",
        target=str(vs.id),
        config_hash=vs.config_hash,
        selected=[r["project_id"] for r in vs.result["projects"] if r.get("selected")],
    )
    return vs


def _project_unit(session: Session, p: Project) -> Unit:
    """The rateable unit of a selected project (kind ``project``), created once."""
    if p.unit_id is not None:
        unit = session.get(Unit, p.unit_id)
        if unit is not None:
            return unit
    code = f"project-{p.id}"
    return unit_by_code(session, code) or create_unit(
        session,
        data=UnitCreate(
            code=code, name=p.title[:200], name_en=p.title_en[:200], kind=UnitKind.project
        ),
    )


# --- ballots --------------------------------------------------------------------------------


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


def cast_ballot(session: Session, *, vs: VotingSession, user: User, data: BallotIn) -> Receipt:
    """Store a secret ballot and, in the same transaction, that this deputy has voted.

    The voter row's primary key (session, deputy) is what makes a second ballot fail,
    across any number of concurrent requests and server processes. The ballot row gets a
    random id and no deputy or time; the receipt is returned once and only its hash kept.
    """
    member = session.get(SessionDeputy, (vs.id, user.id))
    if member is None:
        raise Forbidden("You are not in the electorate of this session")
    if vs.state != SessionState.open:
        raise Conflict(f"The session is not open for voting (it is {SessionState(vs.state).value})")
    marks = validate_choices(vs, data.choices)
    session.add(Voter(session_id=vs.id or 0, user_id=user.id or 0))
    try:
        session.flush()
    except IntegrityError as exc:  # the request's transaction is rolled back
        raise Conflict("You have already voted in this session") from exc
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


# --- counting -------------------------------------------------------------------------------


def _tallies(session: Session, vs: VotingSession) -> dict[int, dict[str, int]]:
    rows = session.exec(
        select(BallotMark.project_id, BallotMark.choice, func.count())
        .join(Ballot, col(Ballot.id) == col(BallotMark.ballot_id))
        .where(Ballot.session_id == vs.id)
        .group_by(col(BallotMark.project_id), col(BallotMark.choice))
    )
    out: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for pid, choice, n in rows:
        out[pid][choice] = n
    return out


def _approval_ballots(session: Session, vs: VotingSession) -> list[list[int]]:
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


def count(session: Session, *, vs: VotingSession) -> dict[str, Any]:
    """Count the ballots under the frozen rule (and Equal Shares beside it)."""
    cfg = vs.frozen_config
    assert cfg is not None
    tallies = _tallies(session, vs)
    cast = turnout(session, vs=vs).cast
    voters = session.exec(
        select(func.count()).select_from(Voter).where(Voter.session_id == vs.id)
    ).one()
    electorate = int(cfg["electorate_size"])
    items = {int(p["project_id"]): p for p in cfg["projects"]}
    base: dict[str, Any] = {
        "session_id": vs.id,
        "kind": SessionKind(vs.kind).value,
        "title": vs.title,
        "title_en": vs.title_en,
        "year": vs.year,
        "electorate": electorate,
        "cast": cast,
        "voters_recorded": voters if not cfg.get("imported") else cast,
        "config_hash": vs.config_hash,
        "counted_at": utcnow().isoformat(),
    }
    if vs.kind == SessionKind.satisfaction:
        return base | _count_satisfaction(items, tallies, electorate)
    return base | _count_selection(session, vs, cfg, items, tallies, electorate, cast)


def _count_satisfaction(
    items: dict[int, dict[str, Any]], tallies: dict[int, dict[str, int]], electorate: int
) -> dict[str, Any]:
    projects = []
    for pid, item in items.items():
        t = tallies.get(pid, {})
        s, b, d = (t.get(k, 0) for k in SATISFACTION_CHOICES)
        projects.append(
            {
                "project_id": pid,
                "title": item["title"],
                "title_en": item["title_en"],
                "budget": item["budget"],
                "satisfied": s,
                "basically_satisfied": b,
                "dissatisfied": d,
                "grade": rules.grade(satisfied=s, basically_satisfied=b, electorate=electorate),
            }
        )
    half = electorate // 2 + 1
    return {
        "projects": projects,
        "rule": (
            f"“满意”票超过全体代表（{electorate} 名）半数（至少 {half} 票）评为满意；否则“满意”与"
            f"“基本满意”票合计超过半数评为基本满意；否则评为不满意。"
        ),
        "rule_en": (
            f'A project is graded "satisfied" when its "satisfied" votes are more than half of all '
            f'{electorate} deputies (at least {half}); otherwise "basically satisfied" when '
            f'"satisfied" and "basically satisfied" together are; otherwise "dissatisfied".'
        ),
        "ties": [],
    }


def _rule_config(vs: VotingSession, cfg: dict[str, Any]) -> rules.RuleConfig:
    return rules.RuleConfig(
        budget=int(cfg["budget_cap"]),
        threshold=rules.Threshold.parse(cfg["threshold"]),
        on_no_fit=rules.OnNoFit(cfg["on_no_fit"]),
        max_selected=cfg["max_selected"],
    )


def _count_selection(
    session: Session,
    vs: VotingSession,
    cfg: dict[str, Any],
    items: dict[int, dict[str, Any]],
    tallies: dict[int, dict[str, int]],
    electorate: int,
    cast: int,
) -> dict[str, Any]:
    config = _rule_config(vs, cfg)
    cands = [
        rules.Candidate(
            pid,
            int(item["budget"]),
            tallies.get(pid, {}).get("for", 0),
            tallies.get(pid, {}).get("against", 0),
            tallies.get(pid, {}).get("abstain", 0),
            position=pid,
        )
        for pid, item in items.items()
    ]
    by_id = {c.id: c for c in cands}
    sel = rules.select(cands, config, electorate=electorate, cast=cast)
    mes = rules.equal_shares(
        {pid: int(item["budget"]) for pid, item in items.items()},
        _approval_ballots(session, vs),
        config.budget,
    )
    mes_set = set(mes.selected)
    projects = []
    for row in sel.rows:
        c = by_id[row.id]
        item = items[row.id]
        projects.append(
            {
                "project_id": row.id,
                "title": item["title"],
                "title_en": item["title_en"],
                "category": item["category"],
                "budget": c.cost,
                "for": c.votes_for,
                "against": c.votes_against,
                "abstain": c.votes_abstain,
                "passed": row.passed,
                "rank": row.rank,
                "selected": row.selected,
                "reason": row.reason.value,
                "selected_equal_shares": row.id in mes_set,
            }
        )
    return {
        "projects": projects,
        "budget_cap": config.budget,
        "budget_used": sel.budget_used,
        "threshold": config.threshold.as_json(),
        "threshold_votes": sel.required_votes,
        "on_no_fit": config.on_no_fit.value,
        "max_selected": config.max_selected,
        "max_for_per_ballot": cfg["max_for_per_ballot"],
        "rule": rules.rule_text(config, electorate=electorate, cast=cast),
        "rule_en": rules.rule_text(config, electorate=electorate, cast=cast, lang="en"),
        "ties": [
            {
                "project_ids": t.ids,
                "votes_for": t.votes_for,
                "settled_by": t.settled_by,
                "text": rules.tie_words(t),
                "text_en": rules.tie_words(t, "en"),
            }
            for t in sel.ties
        ],
        "equal_shares": {
            "selected": mes.selected,
            "budget_used": sum(by_id[p].cost for p in mes.selected),
            "mes": mes.mes,
            "greedy": mes.greedy,
            "per_voter_budget": str(mes.per_voter_budget),
            "prefer_mes": mes.prefer_mes,
            "prefer_greedy": mes.prefer_greedy,
            "used_greedy": mes.used_greedy,
            "method": (
                'Method of Equal Shares on the "for" marks (cost utilities), integral '
                '"add one" completion and the comparison step, as equalshares.net; '
                "for comparison only: the session's rule decides."
            ),
        },
    }


def results(session: Session, *, vs: VotingSession, user: User | None) -> dict[str, Any]:
    """The counted result: never while open; after closing to admins; public once published."""
    if vs.state in (SessionState.draft, SessionState.open):
        raise Conflict(
            "No results while the session is " + SessionState(vs.state).value + "; only turnout"
        )
    if vs.state == SessionState.closed and (user is None or user.role != Role.admin):
        raise Conflict("The results are not published yet")
    assert vs.result is not None
    return {**vs.result, "state": SessionState(vs.state).value, "published_at": vs.published_at}


def recount(session: Session, *, vs: VotingSession) -> tuple[bool, dict[str, Any]]:
    """Count again from the stored ballots; True when it agrees with the kept result."""
    if vs.result is None:
        raise Conflict("The session has not been counted yet")
    fresh = count(session, vs=vs)
    keep = {k: v for k, v in vs.result.items() if k != "counted_at"}
    again = {k: v for k, v in fresh.items() if k != "counted_at"}
    return keep == again, fresh


def public_ballots(session: Session, *, vs: VotingSession) -> list[PublicBallot]:
    """Every ballot under its receipt's hash, once the session is published."""
    if vs.state != SessionState.published:
        raise Conflict("Ballots are public only after publication")
    marks: dict[str, dict[str, str]] = defaultdict(dict)
    for bid, pid, choice in session.exec(
        select(BallotMark.ballot_id, BallotMark.project_id, BallotMark.choice)
        .join(Ballot, col(Ballot.id) == col(BallotMark.ballot_id))
        .where(Ballot.session_id == vs.id)
    ):
        marks[bid][str(pid)] = choice
    rows = session.exec(
        select(Ballot.id, Ballot.receipt_hash)
        .where(Ballot.session_id == vs.id)
        .order_by(col(Ballot.receipt_hash))
    )
    return [PublicBallot(receipt_hash=h, choices=marks.get(bid, {})) for bid, h in rows]


# --- Pabulib export and import --------------------------------------------------------------


def _pb_date(when: datetime | None) -> str:
    return when.strftime("%d.%m.%Y") if when else ""


def export_pabulib(session: Session, *, vs: VotingSession, user: User | None) -> str:
    """The session as a Pabulib approval election ("for" marks are approvals); no identities."""
    if vs.kind != SessionKind.selection:
        raise Conflict("Only selection sessions are elections in the Pabulib sense")
    results(session, vs=vs, user=user)  # the same visibility as the results
    cfg = vs.frozen_config
    assert cfg is not None and vs.result is not None
    config = _rule_config(vs, cfg)
    required = vs.result["threshold_votes"]
    meta: dict[str, Any] = {
        "description": f"Minyi deputies' vote on livelihood projects: {vs.title}",
        "country": "China",
        "unit": "Minyi",
        "instance": vs.year,
        "subunit": vs.title,
        "budget": config.budget,
        "vote_type": "approval",
    }
    if config.max_selected is not None:
        meta["rule"] = "unknown"
    elif config.on_no_fit == rules.OnNoFit.stop:
        meta["rule"] = "greedy-no-skip"
    elif required > 0:
        meta["rule"] = "greedy-threshold"
    else:
        meta["rule"] = "greedy"
    if required > 0 and meta["rule"] != "unknown":
        meta["min_project_score_threshold"] = required
    meta["date_begin"] = _pb_date(vs.opened_at)
    meta["date_end"] = _pb_date(vs.closed_at)
    if cfg["max_for_per_ballot"] is not None:
        meta["max_length"] = cfg["max_for_per_ballot"]
    meta["language"] = "zh"
    meta["currency"] = "CNY"
    meta["comment"] = (
        '#1: Each deputy marked every project "for", "against" or "abstain"; the approvals '
        'here are the "for" marks. Ties in votes were settled by fewer "against", then lower '
        "cost, then the earlier id. Voter ids are arbitrary and identify nobody."
    )
    projects = [
        {
            "project_id": p["project_id"],
            "cost": p["budget"],
            "votes": p["for"],
            "name": p["title"],
            "selected": 1 if p["selected"] else 0,
        }
        for p in sorted(
            vs.result["projects"],
            key=lambda r: (r["rank"] is None, r["rank"] or 0, r["project_id"]),
        )
    ]
    votes = [[str(p) for p in ballot] for ballot in _approval_ballots(session, vs)]
    return pabulib.write(meta, projects, votes)


def import_pabulib(
    session: Session,
    *,
    election: pabulib.PbElection,
    actor: str,
    progress: Any = None,
) -> VotingSession:
    """Load a Pabulib approval election as a closed selection session with its own rule."""
    if election.rule not in pabulib.GREEDY_RULES:
        raise Invalid.field(
            ("file", "META", "rule"),
            f"rule '{election.rule}' is not one of {sorted(pabulib.GREEDY_RULES)}",
        )
    config = election.rule_config()
    sponsor = unit_by_code(session, "pabulib") or create_unit(
        session,
        data=UnitCreate(
            code="pabulib",
            name="Pabulib 公开数据",
            name_en="Pabulib open data",
            kind=UnitKind.department,
        ),
    )
    meta = election.meta
    title = (meta.get("description") or "Pabulib election")[:200]
    year = int(meta.get("instance", "2000")[:4]) if meta.get("instance", "")[:4].isdigit() else 2000
    vs = VotingSession(
        kind=SessionKind.selection,
        title=title,
        title_en=title,
        year=max(2000, min(2200, year)),
        budget_cap=config.budget,
        threshold=config.threshold.as_json(),
        on_no_fit=config.on_no_fit.value,
    )
    session.add(vs)
    session.flush()
    ids: dict[str, int] = {}
    for i, pb in enumerate(election.projects):
        project = Project(
            title=(pb.name or pb.project_id)[:200],
            title_en=(pb.name or pb.project_id)[:200],
            description=f"Pabulib project {pb.project_id}"
            + (f" ({pb.category})" if pb.category else ""),
            category="其他",
            budget=pb.cost,
            sponsor_unit_id=sponsor.id or 0,
            status=ProjectStatus.on_ballot,
        )
        session.add(project)
        session.flush()
        ids[pb.project_id] = project.id or 0
        session.add(SessionProject(session_id=vs.id or 0, project_id=project.id or 0, position=i))
    session.flush()
    vs.frozen_config = _frozen_config(session, vs, [])
    vs.frozen_config["electorate_size"] = len(election.votes)
    vs.frozen_config["imported"] = {"format": "pabulib", "meta": dict(meta)}
    vs.config_hash = rules.config_hash(vs.frozen_config)
    rows: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    for n, ballot in enumerate(election.votes, start=1):
        bid = secrets.token_hex(16)
        rows.append({"id": bid, "session_id": vs.id, "receipt_hash": receipt_hash(new_receipt())})
        marks += [{"ballot_id": bid, "project_id": ids[p], "choice": "for"} for p in ballot]
        if len(rows) >= 1000:
            session.execute(insert(Ballot), rows)
            if marks:
                session.execute(insert(BallotMark), marks)
            rows, marks = [], []
        if progress:
            progress(n)
    if rows:
        session.execute(insert(Ballot), rows)
    if marks:
        session.execute(insert(BallotMark), marks)
    vs.state = SessionState.closed
    vs.opened_at = vs.closed_at = utcnow()
    session.add(vs)
    session.flush()
    vs.result = count(session, vs=vs)
    session.add(vs)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="voting_session.import",
        target=str(vs.id),
        source="pabulib",
        rule=election.rule,
        voters=len(election.votes),
    )
    return vs
