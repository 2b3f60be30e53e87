"""Response shapes of the indicator, ranking and trend routes (public contract names kept)."""

from __future__ import annotations

from typing import Any

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
