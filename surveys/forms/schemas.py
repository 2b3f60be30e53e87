"""Request and response bodies of the survey API (the tables live in models.py)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from surveys.forms.models import Access, QuestionType

KEY_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
CODE_PATTERN = r"^[A-Za-z0-9_.:-]+$"
SHOW_IF_OPS = ("eq", "ne", "in", "lt", "le", "gt", "ge")
PROFILE_FIELDS = ("area", "age_band", "sex")
AGE_BANDS = ("under-18", "18-29", "30-39", "40-49", "50-59", "60-69", "70+")
SEXES = ("female", "male", "other")
RATING_DEFAULT = (1, 5)
NPS_SCALE = (0, 10)
MAX_TEXT = 2000
MAX_COMMENT = 2000

AgeBand = Literal["under-18", "18-29", "30-39", "40-49", "50-59", "60-69", "70+"]
Sex = Literal["female", "male", "other"]
ProfileField = Literal["area", "age_band", "sex"]


class OptionIn(BaseModel):
    """One choice of a single_choice or multi_choice question."""

    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=64, pattern=CODE_PATTERN)
    label: str = Field(min_length=1, max_length=200)
    label_en: str = Field(default="", max_length=200)


class ShowIf(BaseModel):
    """Show a question only when an earlier answer matches."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    op: Literal["eq", "ne", "in", "lt", "le", "gt", "ge"] = "eq"
    value: Any


class QuestionIn(BaseModel):
    """One question of a questionnaire."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=KEY_PATTERN)
    type: QuestionType
    label: str = Field(min_length=1, max_length=500)
    label_en: str = Field(default="", max_length=500)
    required: bool = False
    dimension: str | None = Field(default=None, max_length=64, pattern=KEY_PATTERN)
    scale_min: int | None = None
    scale_max: int | None = None
    options: list[OptionIn] | None = None
    show_if: ShowIf | None = None

    @model_validator(mode="after")
    def _by_type(self) -> QuestionIn:
        t = self.type
        if t is QuestionType.rating:
            lo = RATING_DEFAULT[0] if self.scale_min is None else self.scale_min
            hi = RATING_DEFAULT[1] if self.scale_max is None else self.scale_max
            if not (0 <= lo < hi <= 10 and hi - lo <= 10):
                raise ValueError("a rating scale needs 0 <= scale_min < scale_max <= 10")
            self.scale_min, self.scale_max = lo, hi
        elif t is QuestionType.nps:
            if (self.scale_min, self.scale_max) not in ((None, None), NPS_SCALE):
                raise ValueError("an nps question is always scored 0 to 10")
            self.scale_min, self.scale_max = NPS_SCALE
        elif self.scale_min is not None or self.scale_max is not None:
            if t is not QuestionType.number:
                raise ValueError(f"scale_min/scale_max do not apply to {t.value} questions")
            if (
                self.scale_min is not None
                and self.scale_max is not None
                and self.scale_min > self.scale_max
            ):
                raise ValueError("scale_min is larger than scale_max")
        if t in (QuestionType.single_choice, QuestionType.multi_choice):
            if not self.options:
                raise ValueError(f"a {t.value} question needs options")
            values = [o.value for o in self.options]
            if len(set(values)) != len(values):
                raise ValueError("option values must be unique")
        elif self.options:
            raise ValueError(f"options do not apply to {t.value} questions")
        if self.dimension and t not in (QuestionType.rating, QuestionType.nps):
            raise ValueError("only rating and nps questions measure a dimension")
        return self


class SurveyCreate(BaseModel):
    """A questionnaire: ordered questions with stable keys."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    title_en: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=5000)
    questions: list[QuestionIn] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _keys_and_conditions(self) -> SurveyCreate:
        seen: dict[str, QuestionIn] = {}
        for q in self.questions:
            if q.key in seen:
                raise ValueError(f"question key '{q.key}' is used twice")
            if q.show_if is not None:
                check_show_if(q.show_if, seen)
            seen[q.key] = q
        return self


def check_show_if(cond: ShowIf, earlier: dict[str, QuestionIn]) -> None:
    """A condition must refer to an earlier question and fit that question's answers."""
    target = earlier.get(cond.key)
    if target is None:
        raise ValueError(f"show_if refers to '{cond.key}', which is not an earlier question")
    if cond.op == "in":
        if not isinstance(cond.value, list) or not cond.value:
            raise ValueError("show_if with op 'in' needs a non-empty list value")
        values = cond.value
    else:
        values = [cond.value]
    numeric = target.type in (QuestionType.rating, QuestionType.nps, QuestionType.number)
    for v in values:
        if numeric:
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"show_if on '{cond.key}' compares with a number")
        else:
            if cond.op in ("lt", "le", "gt", "ge"):
                raise ValueError(f"show_if op '{cond.op}' needs a numeric question")
            if not isinstance(v, str):
                raise ValueError(f"show_if on '{cond.key}' compares with a text value")
            if target.options and v not in {o.value for o in target.options}:
                raise ValueError(f"show_if value '{v}' is not an option of '{cond.key}'")


class QuestionPublic(QuestionIn):
    position: int


class SurveySummary(BaseModel):
    id: int
    title: str
    title_en: str
    version: int
    previous_id: int | None
    frozen: bool
    created_at: datetime
    question_count: int


class SurveyPublic(SurveySummary):
    description: str
    questions: list[QuestionPublic]


class SurveyCreated(BaseModel):
    id: int
    version: int = 1
    previous_id: int | None = None


class CampaignCreate(BaseModel):
    """A questionnaire put to residents about a set of units for a time window."""

    model_config = ConfigDict(extra="forbid")

    # First, so the checks below know it: a resident survey needs its questionnaire and units
    # (422 naming them when absent); a democratic evaluation (民主测评) takes its configuration
    # and subject_ids instead.
    kind: Literal["resident", "democratic_evaluation"] = "resident"
    survey_id: int | None = Field(default=None, validate_default=True)
    title: str = Field(min_length=1, max_length=200)
    title_en: str = Field(default="", max_length=200)
    opens_at: AwareDatetime
    closes_at: AwareDatetime
    unit_codes: list[str] = Field(default_factory=list, max_length=5000, validate_default=True)
    access: Access = Access.open
    profile_fields: list[ProfileField] = Field(default_factory=list)
    dimension_weights: dict[str, float] | None = None
    margins: dict[str, Any] | None = None
    # Checked by surveys.evaluation.config (the default configuration when absent).
    evaluation: dict[str, Any] | None = None
    subject_ids: list[int] = Field(default_factory=list, max_length=500)

    @field_validator("survey_id")
    @classmethod
    def _questionnaire(cls, v: int | None, info: ValidationInfo) -> int | None:
        if v is None and info.data.get("kind", "resident") == "resident":
            raise ValueError("a resident survey needs its questionnaire")
        return v

    @field_validator("unit_codes")
    @classmethod
    def _units(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if not v and info.data.get("kind", "resident") == "resident":
            raise ValueError("a resident survey needs at least one unit")
        return v

    @model_validator(mode="after")
    def _window(self) -> CampaignCreate:
        if self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at")
        if len(set(self.unit_codes)) != len(self.unit_codes):
            raise ValueError("unit_codes has duplicates")
        return self


class CampaignUpdate(BaseModel):
    """Fields of a campaign that can change (the questionnaire and units cannot)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    title_en: str | None = Field(default=None, max_length=200)
    opens_at: AwareDatetime | None = None
    closes_at: AwareDatetime | None = None
    profile_fields: list[ProfileField] | None = None
    dimension_weights: dict[str, float] | None = None
    margins: dict[str, Any] | None = None


class CampaignPublic(BaseModel):
    id: int
    survey_id: int
    title: str
    title_en: str
    opens_at: datetime
    closes_at: datetime
    access: Access
    status: Literal["scheduled", "open", "closed"]
    unit_codes: list[str]
    profile_fields: list[str]
    dimension_weights: dict[str, float] | None
    margins: dict[str, Any] | None
    purged_at: datetime | None
    created_at: datetime
    response_count: int = 0
    flagged_count: int = 0
    kind: str = "resident"
    # SHA-256 of a democratic evaluation's configuration, fixed once the campaign opens.
    evaluation_hash: str | None = None


class CampaignCreated(BaseModel):
    id: int


class InvitationsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=10_000)
    # The print run's label; the local time of creation when omitted.
    batch: str | None = Field(default=None, max_length=64)
    # A democratic evaluation's rater group (one of its configuration's groups); required there.
    rater_group: str | None = Field(default=None, max_length=32)


class InvitationsCreated(BaseModel):
    codes: list[str]


class Profile(BaseModel):
    """Optional respondent profile, used only for weighting."""

    model_config = ConfigDict(extra="forbid")

    age_band: AgeBand | None = None
    sex: Sex | None = None


AnswerValue = bool | int | float | str | list[str] | None  # bool kept, so it is refused as a number


class ResponseIn(BaseModel):
    """One resident's answers about one unit (the public submission)."""

    model_config = ConfigDict(extra="forbid")

    unit_code: str = Field(min_length=1, max_length=64)
    answers: dict[str, AnswerValue] = Field(default_factory=dict, max_length=200)
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)
    invitation_code: str | None = Field(default=None, max_length=64)
    # Client-generated (a UUID); a retry with the same id stores nothing new.
    submission_id: str | None = Field(
        default=None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"
    )
    area_code: str | None = Field(default=None, max_length=64)
    profile: Profile | None = None
    # Issued with the form; tells how long the respondent had the form open.
    form_token: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _no_nul(self) -> ResponseIn:
        # PostgreSQL text cannot hold NUL: refuse it here (422) rather than fail the commit.
        errors = [
            name
            for name in ("unit_code", "comment", "invitation_code", "area_code", "form_token")
            if "\x00" in (getattr(self, name) or "")
        ]
        for key, value in self.answers.items():
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, str) and "\x00" in v for v in values):
                errors.append(f"answers.{key}")
        if errors:
            raise ValueError("NUL characters are not allowed in: " + ", ".join(errors))
        return self


class ResponseCreated(BaseModel):
    # The response's public id (a keyed hash, not sequential): the one exports show.
    id: str


class FormOption(BaseModel):
    value: str
    label: str
    label_en: str


class FormQuestion(BaseModel):
    key: str
    type: QuestionType
    label: str
    label_en: str
    required: bool
    dimension: str | None
    scale_min: int | None
    scale_max: int | None
    options: list[FormOption] | None
    show_if: dict[str, Any] | None


class FormUnit(BaseModel):
    code: str
    name: str
    name_en: str
    kind: str


class FormPublic(BaseModel):
    """What a client needs to render the survey."""

    campaign_id: int
    title: str
    title_en: str
    description: str
    access: Access
    opens_at: datetime
    closes_at: datetime
    units: list[FormUnit]
    questions: list[FormQuestion]
    profile_fields: list[str]
    areas: list[FormUnit]
    age_bands: list[str]
    sexes: list[str]
    form_token: str


class ImportResult(BaseModel):
    imported: int
