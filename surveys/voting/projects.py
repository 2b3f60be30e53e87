"""Candidate projects: creation, the public view with sponsor and area, progress reports."""

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
    ProjectPublic,
    ProjectStatus,
    ProjectUpdate,
    ProjectUpdateCreate,
    ProjectUpdatePublic,
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
    updates = list(
        session.exec(
            select(ProjectUpdate)
            .where(ProjectUpdate.project_id == project.id)
            .order_by(col(ProjectUpdate.on_date).desc(), col(ProjectUpdate.id).desc())
        )
    )
    return _project_public(project, units, updates)


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
