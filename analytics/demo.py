"""The analytics step of the demo district: score the demo's comments when it is built.

Without it the demo's dashboard opened on "no data" for the sentiment, theme and aspect
charts until the app's background job had caught up (minutes on the default demo), which
read as a broken product (issue 19). The job still scores whatever residents write later.
"""

from __future__ import annotations

import random

from sqlalchemy.engine import Engine
from sqlmodel import Session

from analytics.comments.job import score_step
from analytics.comments.scoring import campaigns_with_comments, pending_count
from service.progress import progress


def score(*, engine: Engine, rng: random.Random, responses: int) -> None:
    """Score every comment of the demo now (the same path as the app's job)."""
    with Session(engine) as s:
        total = sum(pending_count(s, campaign_id=c) for c in campaigns_with_comments(s))
    with progress("comment sentiment", total) as bar:
        while n := score_step(engine, limit=256):
            bar.advance(n)
