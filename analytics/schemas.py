"""Response and request shapes of the analytics API (public contract names kept exactly)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


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


class SentimentIn(BaseModel):
    texts: list[Annotated[str, StringConstraints(max_length=2000)]] = Field(max_length=100)


class SentimentResult(BaseModel):
    label: str
    score: float


class SentimentOut(BaseModel):
    results: list[SentimentResult]
    model: str


class CommentRow(BaseModel):
    text: str
    month: str | None
    unit_code: str
    unit_name: str
    sentiment: str | None
    sentiment_score: float | None


class CommentsOut(BaseModel):
    total: int
    rows: list[CommentRow]
    suppressed: bool
    pending: int
    method: dict[str, Any]
    more: bool  # more matched than this page lists


class ThemesOut(BaseModel):
    by: str
    groups: list[dict[str, Any]]
    pending: int
    method: dict[str, Any]
