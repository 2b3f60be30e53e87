"""Response and request shapes of the comment API (public contract names kept exactly)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints


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


class AspectsOut(BaseModel):
    rows: list[dict[str, Any]]
    months: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    themes: dict[str, list[dict[str, Any]]]
    untagged: int
    pending: int
    method: dict[str, Any]
