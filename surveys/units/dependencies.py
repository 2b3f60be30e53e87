"""Validating dependencies of the unit routes (API and console pages)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from service.db import SessionDep, get_or_404
from surveys.units.models import Unit


def valid_unit_id(unit_id: int, session: SessionDep) -> Unit:
    """The unit with this id, or 404."""
    return get_or_404(session, Unit, unit_id, "Unit")


UnitById = Annotated[Unit, Depends(valid_unit_id)]
