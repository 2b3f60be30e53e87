"""Creating, listing and importing units."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable

from pydantic import ValidationError
from sqlmodel import Session, col, select

from service.db import stored_id
from service.errors import Conflict, Invalid, error_item
from surveys.units.models import Unit, UnitCreate, UnitKind, UnitPublic


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


def list_units(session: Session, *, kind: UnitKind | None = None) -> list[UnitPublic]:
    """All units (optionally of one kind) with their parent's code, in tree-friendly order."""
    units = list(session.exec(select(Unit).order_by(col(Unit.id))))
    codes = {u.id: u.code for u in units}
    return [
        UnitPublic(
            id=stored_id(u),
            code=u.code,
            name=u.name,
            name_en=u.name_en,
            kind=u.kind,
            parent_code=codes.get(u.parent_id),
        )
        for u in units
        if kind is None or u.kind == kind
    ]


def import_units(
    session: Session,
    *,
    rows: Iterable[dict[str, str]],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Import units from CSV-like rows, all or nothing; every bad row is reported (row, field, reason)."""
    errors: list[dict[str, object]] = []
    parsed: list[tuple[int, UnitCreate]] = []
    seen: set[str] = set()
    for rowno, row in enumerate(rows, start=2):  # row 1 is the header
        clean: dict[str, str | None] = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        clean["parent_code"] = clean.get("parent_code") or None
        try:
            data = UnitCreate.model_validate(clean)
        except ValidationError as exc:
            for e in exc.errors():
                errors.append(
                    {"loc": ["row", rowno, *e["loc"]], "msg": e["msg"], "type": e["type"]}
                )
            continue
        if data.code in seen or unit_by_code(session, data.code):
            errors.append(
                {
                    "loc": ["row", rowno, "code"],
                    "msg": f"duplicate code '{data.code}'",
                    "type": "duplicate",
                }
            )
            continue
        seen.add(data.code)
        parsed.append((rowno, data))
    for rowno, data in parsed:
        if (
            data.parent_code
            and data.parent_code not in seen
            and not unit_by_code(session, data.parent_code)
        ):
            errors.append(
                error_item(["row", rowno, "parent_code"], f"unknown unit code '{data.parent_code}'")
            )
    if errors:
        raise Invalid(errors)
    # Parents first: repeat passes until every row whose parent exists is placed.
    pending = [d for _, d in parsed]
    done = 0
    while pending:
        later = []
        for data in pending:
            if data.parent_code and unit_by_code(session, data.parent_code) is None:
                later.append(data)
                continue
            create_unit(session, data=data)
            done += 1
            if progress:
                progress(done)
        if len(later) == len(pending):
            raise Invalid.field(["row", "parent_code"], "parent cycle among imported rows")
        pending = later
    return done


def read_units_csv(text: str) -> list[dict[str, str]]:
    """Rows of a units CSV (columns: code, name, name_en, kind, parent_code)."""
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
