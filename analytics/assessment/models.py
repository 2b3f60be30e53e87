"""Tables of the annual assessment: the assessment with its configuration, and the scores
staff enter for the sources no survey measures (实绩, 改革攻坚、担当作为)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime, utcnow


class Assessment(SQLModel, table=True):
    """One year's assessment of one kind of subject; its configuration is frozen when finalised."""

    __tablename__ = "assessment"
    __table_args__ = (UniqueConstraint("year", "title"),)

    id: int | None = Field(default=None, primary_key=True)
    year: int
    title: str = Field(max_length=200)
    # {"kind", "weights", "public_campaign_ids", "evaluation_campaign_ids"}: see schemas.
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    config_hash: str | None = Field(default=None, max_length=64)
    finalised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finalised_by: str = Field(default="", max_length=64)
    created_by: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AssessmentScore(SQLModel, table=True):
    """A score staff entered for a subject: 实绩 ("results") or 改革攻坚、担当作为 ("reform")."""

    __tablename__ = "assessment_score"
    # AUTOINCREMENT on SQLite: a score's id is the handle of its DELETE route, so a repeated
    # or stale delete must find nothing rather than a later score that took the same id.
    __table_args__ = (
        UniqueConstraint("assessment_id", "subject_id", "source"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    assessment_id: int = Field(foreign_key="assessment.id", index=True, ondelete="CASCADE")
    subject_id: int = Field(foreign_key="evaluation_subject.id", index=True)
    source: str = Field(sa_type=String(16))
    score: float
    # An interval only when the office gives one; otherwise the score is exact.
    ci_low: float | None = None
    ci_high: float | None = None
    # Where the score comes from, in words ("区考核办 2026 年度目标考核").
    source_text: str = Field(max_length=200)
    entered_by: str = Field(max_length=64)
    entered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AssessmentSnapshot(SQLModel, table=True):
    """The results of a finalised assessment as computed when it was finalised: what is on
    file, whatever later happens to subjects, units, resident data or evaluations. ``body``
    is the canonical JSON (keys sorted, no spaces, UTF-8) and ``sha256`` its digest."""

    __tablename__ = "assessment_snapshot"

    assessment_id: int = Field(foreign_key="assessment.id", primary_key=True, ondelete="CASCADE")
    body: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(max_length=64)
    computed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
