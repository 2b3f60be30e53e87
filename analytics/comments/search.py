"""The comment list: filtered, searched, newest first, only from groups large enough.

Comments are shown only for groups (units, areas) of at least ``min_group_size``
respondents. Reading never scores: a comment without a stored sentiment is listed without
one and counted in ``pending`` until the scoring job reaches it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, false, func, select
from sqlmodel import Session, col

from analytics.comments.models import CommentSentiment
from analytics.comments.scoring import pending_count
from analytics.comments.sentiment import LABELS, MODEL_NAME
from analytics.indicators import get_campaign
from service.errors import Invalid
from surveys.forms.models import StatCell, StatUnit, SurveyResponse
from surveys.forms.stats import RESPONSE_KEY
from surveys.units.models import Unit


def group_sizes(
    session: Session, *, campaign_id: int, field: str, include_flagged: bool
) -> dict[int, int]:
    """Respondents per unit or per area, from the statistics tables."""
    table = StatUnit.__table__ if field == "unit" else StatCell.__table__  # type: ignore[attr-defined]
    c = table.c
    key = c.unit_id if field == "unit" else c.area_unit_id
    stmt = select(key, func.sum(c.n)).where(
        c.campaign_id == campaign_id, c.question_key == RESPONSE_KEY
    )
    if not include_flagged:
        stmt = stmt.where(c.flagged == false())
    return {int(k): int(n) for k, n in session.execute(stmt.group_by(key)).all()}


def unit_ids(session: Session, codes: dict[str, str | None]) -> dict[str, int]:
    out = {}
    for name, code in codes.items():
        if code:
            uid = session.execute(select(col(Unit.id)).where(col(Unit.code) == code)).scalar()
            if uid is None:
                raise Invalid.field(("query", name), f"unknown unit code '{code}'")
            out[name] = int(uid)
    return out


@dataclass
class CommentPage:
    """A page of comments and what was left out."""

    total: int | None  # None when not counted
    rows: list[dict[str, Any]]
    suppressed: bool
    pending: int
    method: dict[str, Any]
    more: bool  # more matched than are listed


def _like(q: str) -> str:
    return "%" + re.sub(r"([\\%_])", r"\\\1", q.lower()) + "%"


def list_comments(
    session: Session,
    *,
    campaign_id: int,
    unit_code: str | None = None,
    area_code: str | None = None,
    sentiment: str | None = None,
    q: str | None = None,
    include_flagged: bool = False,
    min_group_size: int = 5,
    limit: int = 50,
    offset: int = 0,
    count: bool = True,
) -> CommentPage:
    """Comments of groups with at least min_group_size respondents, filtered and searched,
    newest first. ``count=False`` skips counting every match (``total`` is then None; ``more``
    still says whether there are more): the count reads all the campaign's comments, the page
    only the newest ones."""
    get_campaign(session, campaign_id)
    if sentiment is not None and sentiment not in LABELS:
        raise Invalid.field(("query", "sentiment"), f"use one of {', '.join(LABELS)}")
    ids = unit_ids(session, {"unit_code": unit_code, "area_code": area_code})
    units = group_sizes(
        session, campaign_id=campaign_id, field="unit", include_flagged=include_flagged
    )
    allowed_units = sorted(u for u, n in units.items() if n >= min_group_size)
    method = {
        "min_group_size": min_group_size,
        "rule": "comments only from units (and areas) with at least min_group_size respondents",
        "sentiment_model": MODEL_NAME,
    }
    suppressed = False
    if "unit_code" in ids and ids["unit_code"] not in allowed_units:
        suppressed = True
    if "area_code" in ids:
        areas = group_sizes(
            session, campaign_id=campaign_id, field="area", include_flagged=include_flagged
        )
        if areas.get(ids["area_code"], 0) < min_group_size:
            suppressed = True
    pending = pending_count(session, campaign_id=campaign_id)
    if suppressed or not allowed_units:
        return CommentPage(0, [], suppressed, pending, method, False)
    r = SurveyResponse
    conds: list[Any] = [
        # "+ 0": walk the responses newest first by primary key and stop at the page's end,
        # rather than read (and sort) all the campaign's responses through its index
        # (measured on the million-response demo, SQLite: 1.26 s -> 3 ms).
        col(r.campaign_id) + 0 == campaign_id,
        col(r.comment).is_not(None),
        col(r.comment) != "",
        col(r.unit_id).in_(allowed_units),
    ]
    if not include_flagged:
        conds.append(col(r.flagged) == false())
    if "unit_code" in ids:
        conds.append(col(r.unit_id) == ids["unit_code"])
    if "area_code" in ids:
        conds.append(col(r.area_unit_id) == ids["area_code"])
    if q:
        conds.append(func.lower(col(r.comment)).like(_like(q), escape="\\"))
    if sentiment is not None:
        conds.append(col(CommentSentiment.label) == sentiment)
    base = (
        select(col(r.id))
        .select_from(r)
        .outerjoin(CommentSentiment, col(CommentSentiment.response_id) == col(r.id))
        .where(and_(*conds))
    )
    total = (
        int(session.execute(select(func.count()).select_from(base.subquery())).scalar_one())
        if count
        else None
    )
    stmt = (
        select(
            col(r.comment),
            col(r.submitted_hour),
            col(Unit.code),
            col(Unit.name),
            col(CommentSentiment.label),
            col(CommentSentiment.score),
        )
        .select_from(r)
        .join(Unit, col(Unit.id) == col(r.unit_id))
        .outerjoin(CommentSentiment, col(CommentSentiment.response_id) == col(r.id))
        .where(and_(*conds))
        .order_by(col(r.id).desc())
        .limit(limit + 1)
        .offset(offset)
    )
    rows = [
        {
            "text": c,
            # The month only: an hour could help tell who wrote it.
            "month": h.strftime("%Y-%m") if h else None,
            "unit_code": code,
            "unit_name": name,
            "sentiment": lab,
            "sentiment_score": s,
        }
        for c, h, code, name, lab, s in session.execute(stmt).all()
    ]
    more = len(rows) > limit
    return CommentPage(total, rows[:limit], False, pending, method, more)
