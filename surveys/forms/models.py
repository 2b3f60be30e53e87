"""Tables of the survey domain. Responses carry no code, IP, device or exact time."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime, utcnow


class QuestionType(str, enum.Enum):
    rating = "rating"
    nps = "nps"
    single_choice = "single_choice"
    multi_choice = "multi_choice"
    text = "text"
    number = "number"


class Access(str, enum.Enum):
    open = "open"
    invitation = "invitation"


class Survey(SQLModel, table=True):
    """A questionnaire version. Once it has responses it is frozen; edits make a new version."""

    __tablename__ = "survey"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    title_en: str = Field(default="", max_length=200)
    description: str = Field(default="", sa_type=Text)
    version: int = 1
    previous_id: int | None = Field(default=None, foreign_key="survey.id")
    frozen: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Question(SQLModel, table=True):
    __tablename__ = "survey_question"
    __table_args__ = (UniqueConstraint("survey_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="survey.id", index=True, ondelete="CASCADE")
    position: int
    key: str = Field(max_length=64)
    type: QuestionType = Field(sa_type=String(16))
    label: str = Field(max_length=500)
    label_en: str = Field(default="", max_length=500)
    required: bool = False
    # For ratings: the reputation dimension the question measures (e.g. "attitude").
    dimension: str | None = Field(default=None, max_length=64)
    scale_min: int | None = None
    scale_max: int | None = None
    # Choices: [{"value": "a", "label": "...", "label_en": "..."}]
    options: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    # Shown only when an earlier answer matches: {"key": "q1", "op": "eq|ne|in|lt|le|gt|ge", "value": ...}
    show_if: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class Campaign(SQLModel, table=True):
    """A questionnaire put to residents about a set of units for a time window."""

    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="survey.id", index=True)
    title: str = Field(max_length=200)
    title_en: str = Field(default="", max_length=200)
    opens_at: datetime = Field(sa_type=UTCDateTime)
    closes_at: datetime = Field(sa_type=UTCDateTime)
    access: Access = Field(default=Access.open, sa_type=String(16))
    # Evaluator-set weights of dimensions in the composite index ({"attitude": 2, ...}); equal if null.
    dimension_weights: dict[str, float] | None = Field(default=None, sa_column=Column(JSON))
    # Population margins for weighting: {"area": {"code": share}, "age_band": {...}, "sex": {...}}
    margins: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # Set when abuse-detection data was purged after the campaign closed.
    purged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Optional respondent profile questions shown on the page: any of "area", "age_band", "sex".
    profile_fields: list[str] | None = Field(default=None, sa_column=Column(JSON))
    # "resident" (a questionnaire about units) or "democratic_evaluation" (民主测评 of subjects).
    kind: str = Field(
        default="resident", max_length=24, sa_column_kwargs={"server_default": "resident"}
    )
    # A democratic evaluation's configuration (groups, scale, items, rules); fixed once the
    # campaign opens, when evaluation_hash (SHA-256 of its canonical JSON) is what was rated.
    evaluation: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    evaluation_hash: str | None = Field(default=None, max_length=64)


class CampaignUnit(SQLModel, table=True):
    __tablename__ = "campaign_unit"

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True, ondelete="CASCADE")
    unit_id: int = Field(foreign_key="unit.id", primary_key=True)


class Invitation(SQLModel, table=True):
    """A one-time code, stored only as a keyed hash; `used` has no time and no response link."""

    __tablename__ = "invitation"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True, ondelete="CASCADE")
    code_hash: str = Field(max_length=64, unique=True)
    used: bool = False
    # The print run the code came from (e.g. "2026-12-05 09:30" or an admin's label), for the
    # response rate per batch; the time is the batch's creation, never the code's use.
    batch: str = Field(default="", max_length=64)
    # A democratic evaluation's rater group (e.g. "staff"); null for a resident survey's code.
    rater_group: str | None = Field(default=None, max_length=32)


class SurveyResponse(SQLModel, table=True):
    """One resident's answers about one unit. Time is kept to the hour only."""

    __tablename__ = "survey_response"
    __table_args__ = (
        UniqueConstraint("campaign_id", "submission_key"),
        Index("ix_survey_response_campaign_unit", "campaign_id", "unit_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    unit_id: int = Field(foreign_key="unit.id")
    area_unit_id: int | None = Field(default=None, foreign_key="unit.id")
    age_band: str | None = Field(default=None, max_length=16)
    sex: str | None = Field(default=None, max_length=16)
    submitted_hour: datetime = Field(sa_type=UTCDateTime)
    comment: str | None = Field(default=None, sa_type=Text)
    source: str = Field(default="web", max_length=16)  # web | import
    # Abuse flags, comma-separated (burst, too_fast, straight_line, duplicate_comment).
    flags: str = Field(default="", max_length=200)
    flagged: bool = False
    # Keyed hash of the client's submission_id: makes retries idempotent, identifies nobody.
    submission_key: str = Field(max_length=64)


class Answer(SQLModel, table=True):
    """One answer; ratings, NPS and numbers in value_num, choices and text in value_text."""

    __tablename__ = "response_answer"

    response_id: int = Field(foreign_key="survey_response.id", primary_key=True, ondelete="CASCADE")
    question_key: str = Field(max_length=64, primary_key=True)
    value_num: float | None = None
    value_text: str | None = Field(default=None, sa_type=Text)


class AbuseMark(SQLModel, table=True):
    """What abuse detection remembers, kept apart from responses and purged at closing.

    One row per campaign and keyed hash (of a client's network and device, or of a comment's
    text), with counters only: no response id, so no row can be tied to a response.
    """

    __tablename__ = "abuse_mark"

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True, ondelete="CASCADE")
    kind: str = Field(max_length=16, primary_key=True)  # client | comment
    key_hash: str = Field(max_length=64, primary_key=True)
    window_start_at: datetime = Field(sa_type=UTCDateTime)
    window_count: int = 0
    total_count: int = 0


class StatUnit(SQLModel, table=True):
    """Answers per scale point, by unit and question."""

    __tablename__ = "stat_unit"

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True, ondelete="CASCADE")
    unit_id: int = Field(
        primary_key=True, sa_type=Integer, sa_column_kwargs={"autoincrement": False}
    )
    question_key: str = Field(primary_key=True, max_length=64)
    flagged: bool = Field(primary_key=True)
    value: float = Field(primary_key=True)
    n: int = Field(default=0, sa_type=BigInteger)


class StatCell(SQLModel, table=True):
    """Respondents by unit and respondent cell (area x age band x sex); question_key is "*"."""

    __tablename__ = "stat_cell"

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True, ondelete="CASCADE")
    unit_id: int = Field(
        primary_key=True, sa_type=Integer, sa_column_kwargs={"autoincrement": False}
    )
    # 0 when the respondent gave no area.
    area_unit_id: int = Field(
        primary_key=True, sa_type=Integer, sa_column_kwargs={"autoincrement": False}
    )
    age_band: str = Field(primary_key=True, max_length=16)
    sex: str = Field(primary_key=True, max_length=16)
    question_key: str = Field(primary_key=True, max_length=64)
    flagged: bool = Field(primary_key=True)
    value: float = Field(primary_key=True)
    n: int = Field(default=0, sa_type=BigInteger)


# Core tables for the bulk paths (writer, imports, demo): plain SQL, no ORM work per row.
SURVEY_TABLE: Table = Survey.__table__  # type: ignore[attr-defined]
QUESTION_TABLE: Table = Question.__table__  # type: ignore[attr-defined]
CAMPAIGN_TABLE: Table = Campaign.__table__  # type: ignore[attr-defined]
INVITATION_TABLE: Table = Invitation.__table__  # type: ignore[attr-defined]
RESPONSE_TABLE: Table = SurveyResponse.__table__  # type: ignore[attr-defined]
ANSWER_TABLE: Table = Answer.__table__  # type: ignore[attr-defined]
ABUSE_MARK_TABLE: Table = AbuseMark.__table__  # type: ignore[attr-defined]
