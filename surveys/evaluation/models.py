"""Tables of the democratic evaluation (民主测评): subjects, the subjects a campaign rates, and
raters' responses. A response carries its rater group and the hour only: no code, IP or exact
time, exactly as a resident's response."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import Index, String, Table
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime, utcnow

# campaign.kind of a democratic evaluation (a resident survey's is "resident").
KIND = "democratic_evaluation"


class SubjectKind(str, enum.Enum):
    team = "team"
    leader = "leader"


class EvaluationSubject(SQLModel, table=True):
    """A leadership team (领导班子) or a leader (领导干部) that campaigns rate."""

    __tablename__ = "evaluation_subject"

    id: int | None = Field(default=None, primary_key=True)
    kind: SubjectKind = Field(sa_type=String(8), index=True)
    name: str = Field(max_length=200)
    # 职务, e.g. "党工委书记"; empty for a team.
    post: str = Field(default="", max_length=200)
    # The unit the team is, or the leader leads: where its residents' survey indicators come from.
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    term_start: date | None = None
    term_end: date | None = None
    # A deactivated subject is not offered for new campaigns; past results keep it.
    is_active: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class EvaluationCampaignSubject(SQLModel, table=True):
    """A subject rated in a democratic-evaluation campaign, in the order raters see them."""

    __tablename__ = "evaluation_campaign_subject"

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True, ondelete="CASCADE")
    subject_id: int = Field(foreign_key="evaluation_subject.id", primary_key=True)
    position: int = 0


class EvaluationResponse(SQLModel, table=True):
    """One rater's sheet (one invitation code), covering every subject of the campaign."""

    __tablename__ = "evaluation_response"
    __table_args__ = (Index("ix_evaluation_response_campaign_group", "campaign_id", "rater_group"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", ondelete="CASCADE")
    rater_group: str = Field(max_length=32)
    submitted_hour: datetime = Field(sa_type=UTCDateTime)


class EvaluationGrade(SQLModel, table=True):
    """One grade: a subject's item ("overall" or an item key) graded by one response."""

    __tablename__ = "evaluation_grade"
    __table_args__ = (Index("ix_evaluation_grade_subject", "subject_id"),)

    response_id: int = Field(
        foreign_key="evaluation_response.id", primary_key=True, ondelete="CASCADE"
    )
    subject_id: int = Field(foreign_key="evaluation_subject.id", primary_key=True)
    item: str = Field(max_length=32, primary_key=True)
    grade: str = Field(max_length=32)


SUBJECT_TABLE: Table = EvaluationSubject.__table__  # type: ignore[attr-defined]
RESPONSE_TABLE: Table = EvaluationResponse.__table__  # type: ignore[attr-defined]
GRADE_TABLE: Table = EvaluationGrade.__table__  # type: ignore[attr-defined]
