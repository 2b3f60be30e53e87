"""Routes for units."""

from __future__ import annotations

from fastapi import APIRouter, status

from service import audit
from service.auth import AdminUser
from service.db import SessionDep
from surveys.units import service
from surveys.units.models import UnitCreate, UnitKind, UnitPublic

router = APIRouter(prefix="/api/v1/units", tags=["units"])


@router.post("", response_model=UnitPublic, status_code=status.HTTP_201_CREATED)
def create_unit(data: UnitCreate, admin: AdminUser, session: SessionDep) -> UnitPublic:
    """Create a unit (admin)."""
    unit = service.create_unit(session, data=data)
    audit.record(session, actor=admin.username, action="unit.create", target=unit.code)
    return UnitPublic(
        **unit.model_dump(exclude={"parent_id", "created_at"}), parent_code=data.parent_code
    )


@router.get("", response_model=list[UnitPublic])
def read_units(session: SessionDep, kind: UnitKind | None = None) -> list[UnitPublic]:
    """All units, public (names of public bodies are not secret)."""
    return service.list_units(session, kind=kind)
