"""The unit tree: every rated body and every area is a unit with a stable code."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import String
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime, utcnow


class UnitKind(str, enum.Enum):
    district = "district"
    street = "street"
    community = "community"
    department = "department"
    leadership_team = "leadership_team"
    service_window = "service_window"
    project = "project"


# Kinds that are places where residents live (used as respondents' areas).
AREA_KINDS = {UnitKind.district, UnitKind.street, UnitKind.community}


class UnitBase(SQLModel):
    # SQLModel drops `regex` under pydantic 2; `pattern` through schema_extra is enforced.
    code: str = Field(min_length=1, max_length=64, schema_extra={"pattern": r"^[A-Za-z0-9_.:-]+$"})
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)
    kind: UnitKind


class Unit(UnitBase, table=True):
    __tablename__ = "unit"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True, index=True)
    kind: UnitKind = Field(sa_type=String(32), index=True)
    parent_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    # A deactivated unit is not offered for new campaigns; its past results stay as they are.
    is_active: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UnitCreate(UnitBase):
    parent_code: str | None = Field(default=None, max_length=64)


class UnitUpdate(SQLModel):
    """A change to a unit: any of its names, kind, parent (by code, "" for none) or state."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    kind: UnitKind | None = None
    parent_code: str | None = Field(default=None, max_length=64)
    is_active: bool | None = None


class UnitPublic(UnitBase):
    id: int
    parent_code: str | None = None
    is_active: bool = True
