"""Response shapes of the indicator, ranking and trend routes (public contract names kept)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class IndicatorRow(BaseModel):
    """One cell. Grouping fields are present when grouped by; a suppressed cell has no values."""

    model_config = ConfigDict(extra="allow")

    unit_code: str | None = None
    dimension: str | None = None
    n: int | None = None
    mean: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    score: float | None = None
    shrunk_score: float | None = None
    satisfaction_rate: float | None = None
    nps: float | None = None
    suppressed: bool


class IndicatorsOut(BaseModel):
    rows: list[IndicatorRow]
    method: dict[str, Any]


class RankingRow(BaseModel):
    model_config = ConfigDict(extra="allow")

    unit_code: str | None = None
    index: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    rank: int | None = None
    rank_low: int | None = None
    rank_high: int | None = None
    suppressed: bool


class RankingOut(BaseModel):
    rows: list[RankingRow]
    method: dict[str, Any]


class TrendsOut(BaseModel):
    rows: list[IndicatorRow]
    changes: list[dict[str, Any]]
    method: dict[str, Any]


class DistributionPoint(BaseModel):
    value: float
    count: int
    share: float | None = None


class DistributionRow(BaseModel):
    """One question of one unit (or of the district). A suppressed row has no numbers."""

    model_config = ConfigDict(extra="allow")

    unit_code: str | None = None
    question: str
    dimension: str | None = None
    type: str
    n: int | None = None
    n_eff: float | None = None
    points: list[DistributionPoint] | None = None
    top_share: float | None = None
    bottom_share: float | None = None
    top_ci_low: float | None = None
    top_ci_high: float | None = None
    suppressed: Literal["primary", "secondary"] | None = None


class DistributionOut(BaseModel):
    rows: list[DistributionRow]
    method: dict[str, Any]


class ReliabilityOut(BaseModel):
    """Cronbach's alpha per multi-question dimension and the dimensions' correlations."""

    rows: list[dict[str, Any]]
    correlations: list[dict[str, Any]]
    method: dict[str, Any]


class SensitivityOut(BaseModel):
    """Composite ranks per unit under alternative weights and normalisations."""

    rows: list[dict[str, Any]]
    scenarios: list[dict[str, Any]]
    method: dict[str, Any]


class BatchRateOut(BaseModel):
    batch: str
    issued: int
    used: int
    rate: float | None = None


class ResponseRateOut(BaseModel):
    """Invitation codes used / issued: a census of the codes, so no interval."""

    issued: int
    used: int
    rate: float | None = None
    batches: list[BatchRateOut]


class ComparabilityOut(BaseModel):
    comparable: bool
    differences: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    a: dict[str, Any]
    b: dict[str, Any]


class ComparisonRow(BaseModel):
    """One unit and dimension; a side is null where that campaign publishes no cell."""

    unit_code: str | None = None
    unit_name: str | None = None
    dimension: str | None = None
    a: dict[str, Any] | None = None
    b: dict[str, Any] | None = None


class ComparisonOut(BaseModel):
    comparability: ComparabilityOut
    rows: list[ComparisonRow]


class DifferenceRow(BaseModel):
    """One dimension (or the composite ``index``) of a against b; suppressed rows have no
    numbers."""

    model_config = ConfigDict(extra="allow")

    dimension: str
    a: str
    b: str
    difference: float | None = None
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    p_holm: float | None = None
    verdict: Literal["higher", "lower", "no clear difference"] | None = None
    suppressed: bool


class DifferenceOut(BaseModel):
    rows: list[DifferenceRow]
    method: dict[str, Any]
