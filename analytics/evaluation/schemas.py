"""What the results of a democratic evaluation answer: per subject, the published rater
groups' counts, the totals, the score and its interval, and the rules (labels in zh-CN and
English side by side, as the configuration gives them)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class GradeCount(BaseModel):
    grade: str
    label: str
    label_en: str
    count: int
    # Of the known grades; null for 不了解, which is outside the base.
    share: float | None


class ItemCounts(BaseModel):
    item: str
    label: str
    label_en: str
    known: int
    unknown: int
    grades: list[GradeCount]
    mean_points: float | None


class RaterGroupResult(BaseModel):
    # The configured group's key, or the pooled groups' keys joined by "+".
    key: str
    groups: list[str]
    label: str
    label_en: str
    n: int
    weight: float
    # The weight's share among the groups with a known grade (what the score uses).
    weight_share: float
    mean_points: float | None
    items: list[ItemCounts]


class RuleOutcome(BaseModel):
    key: str
    label: str
    label_en: str
    text: str
    text_en: str
    op: str
    threshold: str
    item: str | None
    share: float | None
    # The share as an exact fraction ("2/3"), as the rule compared it.
    share_exact: str | None
    # Null when no known grade counts (everyone said 不了解) or the results are suppressed.
    flagged: bool | None


class WeightNote(BaseModel):
    """Why a weight in the score is not the configured one, in words (``weights.py``)."""

    # "pooled": groups published as one, raters counting alike inside; "absent": groups
    # with no rater, whose weight was shared out.
    kind: str
    groups: list[str]
    # The groups' configured weight as a share of all configured weights.
    configured_share: float
    # Their share of the score as computed (the pool's; 0 for absent groups).
    effective_share: float
    text: str
    text_en: str


class SubjectEvaluation(BaseModel):
    subject_id: int
    kind: str
    name: str
    post: str
    unit_code: str | None
    unit_name: str | None
    # True when all the raters together are fewer than k: nothing else is given.
    suppressed: bool
    n: int | None
    # True when a rater group under k was published pooled with another.
    pooled: bool
    # Configured groups none of whose raters graded the subject.
    absent: list[str]
    score: float | None
    score_low: float | None
    score_high: float | None
    totals: list[ItemCounts]
    groups: list[RaterGroupResult]
    rules: list[RuleOutcome]
    # Filled from the scheme's weights when the results are assembled (EvaluationResults).
    weight_notes: list[WeightNote] = []


class ScaleGrade(BaseModel):
    key: str
    label: str
    label_en: str
    points: float | None


class RaterGroup(BaseModel):
    key: str
    label: str
    label_en: str
    weight: float


class EvaluationResults(BaseModel):
    campaign_id: int
    title: str
    title_en: str
    closes_at: datetime
    config_hash: str | None
    k: int
    scale: list[ScaleGrade]
    # The scheme's rater groups and weights, as configured (before any pooling).
    rater_groups: list[RaterGroup]
    subjects: list[SubjectEvaluation]
