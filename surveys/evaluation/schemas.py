"""Request and response models of subjects and democratic evaluations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from surveys.evaluation.models import SubjectKind


class SubjectCreate(BaseModel):
    """A leadership team or a leader, with the unit it is or leads (by code)."""

    model_config = ConfigDict(extra="forbid")

    kind: SubjectKind
    name: str = Field(min_length=1, max_length=200)
    post: str = Field(default="", max_length=200)
    unit_code: str | None = Field(default=None, max_length=64)
    term_start: date | None = None
    term_end: date | None = None

    @model_validator(mode="after")
    def _term(self) -> SubjectCreate:
        if self.term_start and self.term_end and self.term_end < self.term_start:
            raise ValueError("term_end is before term_start")
        return self


class SubjectUpdate(BaseModel):
    """A change to a subject; ``unit_code`` "" clears the unit."""

    model_config = ConfigDict(extra="forbid")

    kind: SubjectKind | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    post: str | None = Field(default=None, max_length=200)
    unit_code: str | None = Field(default=None, max_length=64)
    term_start: date | None = None
    term_end: date | None = None
    is_active: bool | None = None


class SubjectPublic(BaseModel):
    id: int
    kind: SubjectKind
    name: str
    post: str
    unit_id: int | None
    unit_code: str | None
    unit_name: str | None
    term_start: date | None
    term_end: date | None
    is_active: bool
    created_at: datetime


class EvaluationInvitationsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rater_group: str = Field(min_length=1, max_length=32)
    count: int = Field(ge=1, le=10_000)
    batch: str | None = Field(default=None, max_length=64)


class SheetIn(BaseModel):
    """A rater's sheet: per subject id (as text, JSON's keys), per item, a grade key."""

    model_config = ConfigDict(extra="forbid")

    invitation_code: str = Field(min_length=1, max_length=64)
    grades: dict[str, dict[str, str]] = Field(max_length=500)


class SheetStored(BaseModel):
    stored: bool = True


class ConfigurationUpdate(BaseModel):
    """A democratic evaluation's new configuration or subjects, before it opens."""

    model_config = ConfigDict(extra="forbid")

    evaluation: dict[str, Any] | None = None
    subject_ids: list[int] | None = Field(default=None, max_length=500)


class SheetSubject(BaseModel):
    id: int
    kind: SubjectKind
    name: str
    post: str
    unit_name: str | None


class SheetPublic(BaseModel):
    """What a rater's client shows: the subjects, and for each the questions and the grades."""

    campaign_id: int
    title: str
    title_en: str
    closes_at: datetime
    evaluation: dict[str, Any]
    evaluation_hash: str | None
    subjects: list[SheetSubject]
