"""Request and response models of the annual assessment."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

SubjectKindName = Literal["team", "leader"]
EnteredSource = Literal["results", "reform"]
WEIGHT_KEYS = ("public", "evaluation", "results", "reform")
DEFAULT_WEIGHTS = {"public": 30.0, "evaluation": 30.0, "results": 25.0, "reform": 15.0}


def _check_weights(value: dict[str, float] | None) -> dict[str, float] | None:
    if value is None:
        return None
    unknown = sorted(set(value) - set(WEIGHT_KEYS))
    if unknown:
        raise ValueError(f"unknown source(s): {', '.join(unknown)}; use {', '.join(WEIGHT_KEYS)}")
    if any(not 0 <= w <= 100 for w in value.values()):
        raise ValueError("each weight is between 0 and 100")
    full = {k: float(value.get(k, 0.0)) for k in WEIGHT_KEYS}
    if sum(full.values()) <= 0:
        raise ValueError("at least one weight is above 0")
    return full


def _check_ids(value: list[int] | None) -> list[int] | None:
    if value is None:
        return None
    if len(set(value)) != len(value):
        raise ValueError("a campaign is listed twice")
    return value


class AssessmentConfig(BaseModel):
    """What the composite is made of: frozen and hashed when the assessment is finalised."""

    kind: SubjectKindName
    weights: dict[str, float]
    public_campaign_ids: list[int]
    evaluation_campaign_ids: list[int]


class AssessmentCreate(BaseModel):
    """A new assessment; the weights default to 30/30/25/15."""

    year: int = Field(ge=2000, le=2100)
    title: str = Field(min_length=1, max_length=200)
    kind: SubjectKindName = "team"
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    public_campaign_ids: list[int] = Field(default_factory=list, max_length=20)
    evaluation_campaign_ids: list[int] = Field(default_factory=list, max_length=20)

    _weights = field_validator("weights")(_check_weights)
    _ids = field_validator("public_campaign_ids", "evaluation_campaign_ids")(_check_ids)

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the title is empty")
        return value


class AssessmentUpdate(BaseModel):
    """A change to an assessment not yet finalised: any of its title and configuration."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    kind: SubjectKindName | None = None
    weights: dict[str, float] | None = None
    public_campaign_ids: list[int] | None = Field(default=None, max_length=20)
    evaluation_campaign_ids: list[int] | None = Field(default=None, max_length=20)

    _weights = field_validator("weights")(_check_weights)
    _ids = field_validator("public_campaign_ids", "evaluation_campaign_ids")(_check_ids)


class AssessmentPublic(BaseModel):
    """An assessment with its configuration; ``config_hash`` once finalised."""

    id: int
    year: int
    title: str
    config: AssessmentConfig
    config_hash: str | None
    finalised_at: datetime | None
    finalised_by: str
    created_by: str
    created_at: datetime


class ScoreCreate(BaseModel):
    """A score for one subject from one entered source, 0-100, with where it comes from."""

    subject_id: int
    source: EnteredSource
    score: float = Field(ge=0, le=100)
    ci_low: float | None = Field(default=None, ge=0, le=100)
    ci_high: float | None = Field(default=None, ge=0, le=100)
    source_text: str = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _interval(self) -> ScoreCreate:
        if (self.ci_low is None) != (self.ci_high is None):
            raise ValueError("give both ends of the interval, or neither")
        if (
            self.ci_low is not None
            and self.ci_high is not None
            and not self.ci_low <= self.score <= self.ci_high
        ):
            raise ValueError("the interval must hold the score (ci_low <= score <= ci_high)")
        return self


class ScorePublic(BaseModel):
    """An entered score."""

    id: int
    assessment_id: int
    subject_id: int
    subject_name: str
    source: str
    score: float
    ci_low: float | None
    ci_high: float | None
    source_text: str
    entered_by: str
    entered_at: datetime


class SourceScore(BaseModel):
    """One source's score of a subject (0-100) with its 95% interval; ``n`` respondents or
    raters where the source is a survey."""

    score: float
    low: float
    high: float
    # The standard error the composite uses (the source's own, not the interval's width).
    se: float | None = None
    n: int | None = None
    detail: str = ""


class SubjectAssessment(BaseModel):
    """One subject's assessment: every source, the composite, its interval and rank range."""

    subject_id: int
    name: str
    post: str
    unit_code: str | None
    sources: dict[str, SourceScore | None]
    missing: list[str]
    complete: bool
    composite: float | None
    ci_low: float | None
    ci_high: float | None
    rank: int | None
    rank_low: int | None
    rank_high: int | None
    ranks: dict[str, int]
    max_shift: int | None


class ScenarioChange(BaseModel):
    """A sensitivity scenario and the subjects whose rank it changes."""

    scenario: str
    changed: list[int]


class AssessmentResult(BaseModel):
    """Every subject of the assessment, ranked, with the method in words."""

    assessment: AssessmentPublic
    subjects: list[SubjectAssessment]
    scenarios: list[ScenarioChange]
    method: dict[str, Any]
    # True: the results stored when the assessment was finalised (they no longer follow the
    # data); False: a draft's results, computed now from the data as it is.
    snapshot: bool = False
    snapshot_sha256: str | None = None
    # When it was finalised, in the office's time zone ("2026-12-06 21:30 Asia/Shanghai").
    finalised_at_local: str | None = None
