"""Candidate projects: creation and editing, the public view with sponsor and area, the
sessions a project is in, progress reports."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, col, select

from service import audit
from service.errors import Conflict, Invalid
from surveys.units.models import Unit
from surveys.units.service import unit_by_code
from surveys.voting.models import (
    CATEGORIES,
    Project,
    ProjectCreate,
    ProjectEdit,
    ProjectPublic,
    ProjectStatus,
    ProjectUpdate,
    ProjectUpdateCreate,
    ProjectUpdatePublic,
    SessionProject,
    SessionState,
    VotingSession,
)

# A project in implementation: selected, then in progress, then completed.
IMPLEMENTATION = (ProjectStatus.selected, ProjectStatus.in_progress, ProjectStatus.completed)


def units_by_id(session: Session, ids: set[int | None]) -> dict[int, Unit]:
    """The units with these ids (None ignored), by id."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {u.id: u for u in session.exec(select(Unit).where(col(Unit.id).in_(wanted)))}  # type: ignore[misc]


def unit_id_for_code(session: Session, code: str | None, loc: tuple[str, ...]) -> int | None:
    """The id of the unit with this code (None for no code); 422 at ``loc`` if unknown."""
    if not code:
        return None
    unit = unit_by_code(session, code)
    if unit is None:
        raise Invalid.field(loc, f"unknown unit code '{code}'")
    return unit.id


def check_category(category: str) -> None:
    """422 unless the category is one of CATEGORIES."""
    if category not in CATEGORIES:
        raise Invalid.field(("body", "category"), "one of: " + ", ".join(CATEGORIES))


def create_project(session: Session, *, data: ProjectCreate, actor: str | None = None) -> Project:
    """Create a candidate project (sponsor and area are units, by code); audited for an actor."""
    check_category(data.category)
    sponsor = unit_id_for_code(session, data.sponsor_unit_code, ("body", "sponsor_unit_code"))
    project = Project(
        title=data.title.strip(),
        title_en=data.title_en.strip(),
        description=data.description.strip(),
        description_en=data.description_en.strip(),
        category=data.category,
        budget=data.budget,
        sponsor_unit_id=sponsor or 0,
        area_unit_id=unit_id_for_code(session, data.area_code, ("body", "area_code")),
    )
    session.add(project)
    session.flush()
    if actor is not None:
        audit.record(session, actor=actor, action="project.create", target=str(project.id))
    return project


# What the deputies voted on: kept as it was once a session holding the project has opened.
VOTED_FIELDS = ("title", "description", "category", "budget", "sponsor_unit_id", "area_unit_id")


def update_project(session: Session, *, project: Project, data: ProjectEdit, actor: str) -> Project:
    """Change the fields sent (audited with their names). Once the project is on the slate of
    an opened session, what the deputies voted on stays as it was (409); status may change."""
    changes: dict[str, Any] = {}
    for name, value in data.model_dump(exclude_unset=True).items():
        if value is None and name != "area_code":
            continue  # a required field sent as null keeps its value
        if name == "category":
            check_category(value)
        if name == "sponsor_unit_code":
            name, value = "sponsor_unit_id", unit_id_for_code(session, value, ("body", name))
        elif name == "area_code":
            name, value = "area_unit_id", unit_id_for_code(session, value, ("body", name))
        elif isinstance(value, str):
            value = value.strip()
        if getattr(project, name) != value:
            changes[name] = value
    if any(f in changes for f in VOTED_FIELDS) and any(
        vs.state != SessionState.draft for vs in sessions_of(session, project)
    ):
        raise Conflict("This project is on the slate of an opened vote: only its status may change")
    if changes:
        for name, value in changes.items():
            setattr(project, name, value)
        session.add(project)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="project.update",
            target=str(project.id),
            fields=sorted(changes),
        )
    return project


def sessions_of(session: Session, project: Project) -> list[VotingSession]:
    """The voting sessions whose slate holds this project, newest first."""
    return sessions_by_project(session, [project.id or 0]).get(project.id or 0, [])


def sessions_by_project(session: Session, ids: list[int]) -> dict[int, list[VotingSession]]:
    """For each of these projects, the voting sessions whose slate holds it, newest first."""
    if not ids:
        return {}
    rows = session.exec(
        select(SessionProject.project_id, VotingSession)
        .join(VotingSession, col(VotingSession.id) == col(SessionProject.session_id))
        .where(col(SessionProject.project_id).in_(ids))
        .order_by(col(VotingSession.id).desc())
    )
    found: dict[int, list[VotingSession]] = defaultdict(list)
    for project_id, vs in rows:
        found[project_id].append(vs)
    return dict(found)


def project_updates(session: Session, *, project: Project) -> list[ProjectUpdate]:
    """A project's progress reports, newest first."""
    return list(
        session.exec(
            select(ProjectUpdate)
            .where(ProjectUpdate.project_id == project.id)
            .order_by(col(ProjectUpdate.on_date).desc(), col(ProjectUpdate.id).desc())
        )
    )


def described(p: Project, units: dict[int, Unit]) -> dict[str, Any]:
    """What every public view of a project shows of it: text, budget, sponsor and area."""
    sponsor = units.get(p.sponsor_unit_id)
    area = units.get(p.area_unit_id or 0)
    return {
        "title": p.title,
        "title_en": p.title_en,
        "description": p.description,
        "description_en": p.description_en,
        "category": p.category,
        "budget": p.budget,
        "sponsor_name": sponsor.name if sponsor else "",
        "sponsor_name_en": sponsor.name_en if sponsor else "",
        "area_name": area.name if area else None,
    }


def _project_public(
    p: Project, units: dict[int, Unit], updates: list[ProjectUpdate] | None = None
) -> ProjectPublic:
    sponsor = units.get(p.sponsor_unit_id)
    area = units.get(p.area_unit_id or 0)
    unit = units.get(p.unit_id or 0)
    return ProjectPublic(
        id=p.id or 0,
        **described(p, units),
        sponsor_unit_code=sponsor.code if sponsor else "",
        area_code=area.code if area else None,
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
    units = units_by_id(
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
    units = units_by_id(session, {project.sponsor_unit_id, project.area_unit_id, project.unit_id})
    return _project_public(project, units, project_updates(session, project=project))


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


def progress_rows(projects: Iterable[ProjectPublic]) -> list[dict[str, Any]]:
    """One row per project for the progress tracker: status, share done and the latest update
    (projects loaded ``with_updates``, newest update first)."""
    rows = []
    for p in projects:
        last = p.updates[0] if p.updates else None
        rows.append(
            {
                "project_id": p.id,
                "title": p.title,
                "title_en": p.title_en,
                "status": ProjectStatus(p.status).value,
                "budget": p.budget,
                "percent_done": p.percent_done,
                "updated_on": last.date.isoformat() if last else "",
                "note": last.note if last else "",
            }
        )
    return rows
