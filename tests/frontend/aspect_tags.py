"""Aspects for the stored sentiments of a test world, as the aspect model will tag them: until
it ships, browser tests give each scored comment the dimensions its words point to."""

from __future__ import annotations

import random

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from analytics.comments.models import CommentSentiment
from surveys.forms.models import SurveyResponse

CUES = {
    "attitude": ("态度", "热情", "耐心", "rude", "friendly", "staff"),
    "efficiency": ("效率", "慢", "跑", "等", "排队", "推", "slow", "wait"),
    "transparency": ("公开", "通知", "告知", "信息"),
}


def tag_aspects(engine: Engine, *, seed: int = 1) -> int:
    """Set ``aspects`` on every scored comment; returns how many were tagged."""
    rng = random.Random(seed)
    with Session(engine) as s:
        rows = s.execute(
            select(col(CommentSentiment.response_id), col(SurveyResponse.comment)).join(
                SurveyResponse, col(SurveyResponse.id) == col(CommentSentiment.response_id)
            )
        ).all()
        for rid, text in rows:
            low = (text or "").lower()
            found = [a for a, cues in CUES.items() if any(c in low for c in cues)]
            aspects = found or [rng.choice(list(CUES))]
            s.execute(
                update(CommentSentiment)
                .where(col(CommentSentiment.response_id) == rid)
                .values(aspects=aspects)
            )
        s.commit()
    return len(rows)
