"""Creating, listing, editing and (de)activating units; the tree in display order.

Spreadsheet imports live in ``surveys.units.imports``. Functions here flush and never commit;
those that take an ``actor`` are the admin's writes and append the audit entry themselves, so the
API and the console's pages leave the same trail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from service import audit
from service.db import stored_id
from service.errors import Conflict, Invalid
from surveys.units.imports import commit_import, read_csv_text
from surveys.units.models import Unit, UnitCreate, UnitKind, UnitPublic, UnitUpdate


def unit_by_code(session: Session, code: str) -> Unit | None:
    """The unit with this code, or None."""
    return session.exec(select(Unit).where(Unit.code == code)).first()


def create_unit(session: Session, *, data: UnitCreate) -> Unit:
    """Create one unit under its parent (by code); 409 for a duplicate code."""
    if unit_by_code(session, data.code):
        raise Conflict(f"Unit code '{data.code}' already exists")
    parent_id = None
    if data.parent_code:
        parent = unit_by_code(session, data.parent_code)
        if parent is None:
            raise Invalid.field(("body", "parent_code"), f"unknown unit code '{data.parent_code}'")
        parent_id = parent.id
    unit = Unit(
        code=data.code, name=data.name, name_en=data.name_en, kind=data.kind, parent_id=parent_id
    )
    session.add(unit)
    session.flush()
    return unit


def add_unit(session: Session, *, data: UnitCreate, actor: str) -> Unit:
    """Create a unit as an admin's action, audited."""
    unit = create_unit(session, data=data)
    audit.record(session, actor=actor, action="unit.create", target=unit.code)
    return unit


def ancestors(session: Session, *, unit_id: int | None) -> list[int]:
    """The ids from this unit up to its root (the unit first), stopping at a repeat."""
    chain: list[int] = []
    while unit_id is not None and unit_id not in chain:
        chain.append(unit_id)
        unit_id = session.exec(select(Unit.parent_id).where(Unit.id == unit_id)).first()
    return chain


def update_unit(session: Session, *, unit: Unit, data: UnitUpdate, actor: str) -> Unit:
    """Change a unit's names, kind, parent or state, audited; 422 for a parent that makes a cycle."""
    changes = data.model_dump(exclude_unset=True)
    for field in ("name", "kind", "is_active"):
        if field in changes and changes[field] is None:
            raise Invalid.field(("body", field), "may not be null")
    if "parent_code" in changes:
        code = changes.pop("parent_code") or ""
        parent = unit_by_code(session, code) if code else None
        if code and parent is None:
            raise Invalid.field(("body", "parent_code"), f"unknown unit code '{code}'")
        if parent is not None and stored_id(unit) in ancestors(session, unit_id=parent.id):
            raise Invalid.field(
                ("body", "parent_code"), f"'{code}' is this unit or below it: that makes a cycle"
            )
        changes["parent_id"] = parent.id if parent else None
    before = {k: getattr(unit, k) for k in changes}
    for key, value in changes.items():
        setattr(unit, key, value)
    session.add(unit)
    session.flush()
    changed = {k: v for k, v in changes.items() if before[k] != v}
    if changed:
        action = "unit.update"
        if set(changed) == {"is_active"}:
            action = "unit.reactivate" if changed["is_active"] else "unit.deactivate"
        audit.record(session, actor=actor, action=action, target=unit.code, **changed)
    return unit


def to_public(unit: Unit, codes: dict[int | None, str]) -> UnitPublic:
    """A unit as the API shows it, its parent by code (``codes``: id -> code)."""
    return UnitPublic(
        id=stored_id(unit),
        code=unit.code,
        name=unit.name,
        name_en=unit.name_en,
        kind=unit.kind,
        parent_code=codes.get(unit.parent_id),
        is_active=unit.is_active,
    )


def unit_public(session: Session, *, unit: Unit) -> UnitPublic:
    """One unit as the API shows it."""
    parent = session.get(Unit, unit.parent_id) if unit.parent_id is not None else None
    return to_public(unit, {parent.id: parent.code} if parent else {})


def list_units(
    session: Session, *, kind: UnitKind | None = None, active: bool | None = None
) -> list[UnitPublic]:
    """All units (optionally of one kind, or only (in)active ones) with their parent's code."""
    units = list(session.exec(select(Unit).order_by(col(Unit.id))))
    codes: dict[int | None, str] = {u.id: u.code for u in units}
    return [
        to_public(u, codes)
        for u in units
        if (kind is None or u.kind == kind) and (active is None or u.is_active == active)
    ]


@dataclass(frozen=True)
class TreeNode:
    """A unit in the tree's display order: its depth and how many units sit directly below it."""

    unit: Unit
    depth: int
    children: int
    parent_code: str | None


def unit_tree(session: Session) -> list[TreeNode]:
    """Every unit, depth first from the roots (each level by code), with its depth."""
    units = list(session.exec(select(Unit).order_by(col(Unit.code))))
    by_id = {u.id: u for u in units}
    below: dict[int | None, list[Unit]] = {}
    for u in units:
        # A unit whose parent is missing is shown as a root rather than lost.
        below.setdefault(u.parent_id if u.parent_id in by_id else None, []).append(u)
    out: list[TreeNode] = []
    seen: set[int | None] = set()
    stack = [(u, 0) for u in reversed(below.get(None, []))]
    while stack:
        unit, depth = stack.pop()
        if unit.id in seen:
            continue
        seen.add(unit.id)
        kids = below.get(unit.id, [])
        parent = by_id.get(unit.parent_id)
        out.append(TreeNode(unit, depth, len(kids), parent.code if parent else None))
        stack.extend((k, depth + 1) for k in reversed(kids))
    return out


def import_units(
    session: Session,
    *,
    rows: Iterable[dict[str, str]],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Import units from CSV-like rows, all or nothing; every bad row is reported (row, field)."""
    return commit_import(session, rows=list(rows), progress=progress)


def read_units_csv(text: str) -> list[dict[str, str]]:
    """Rows of a units CSV (columns: code, name, name_en, kind, parent_code)."""
    return read_csv_text(text)
