"""Tables computed by analytics: per-comment sentiment, filled once so views never recompute,
and how far the comment views have looked for comments still to score."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime, utcnow


class CommentSentiment(SQLModel, table=True):
    """The sentiment of one response's comment, by the model named in ``model``."""

    __tablename__ = "comment_sentiment"

    response_id: int = Field(foreign_key="survey_response.id", primary_key=True, ondelete="CASCADE")
    label: str = Field(max_length=16)  # positive | negative | neutral
    # Probability-like score that the comment is positive (0..1).
    score: float
    model: str = Field(max_length=64)
    # The dimensions the comment speaks of (attitude, efficiency, ...), a list of keys; None
    # when it was scored by a model that did not tag aspects.
    aspects: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CommentScanMark(SQLModel, table=True):
    """How far the comment views have looked in a campaign's responses (a high-water mark).

    Every response of the campaign with an id up to ``response_id`` has its sentiment stored
    or no comment; ``responses`` is how many responses of the campaign had such an id when the
    mark was set, so a response committed late below the mark can be noticed.
    """

    __tablename__ = "comment_scan_mark"

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True, ondelete="CASCADE")
    response_id: int
    responses: int
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
