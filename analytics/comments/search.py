"""The comment list: filtered, searched, newest first, only from groups large enough.

Comments are shown only from groups (a unit's month, under the filters) that are whole
disclosure blocks (``analytics.indicators.disclosure``). Reading never scores: a comment without a stored sentiment is listed without
one and counted in ``pending`` until the scoring job reaches it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, false, func, or_, select
from sqlmodel import Session, col

from analytics.comments.models import CommentSentiment
from analytics.comments.scoring import pending_count
from analytics.comments.sentiment import LABELS, MODEL_NAME
from analytics.indicators import cube, get_campaign
from analytics.indicators.queries import Filters
from service.errors import Invalid
from surveys.forms.models import SurveyResponse
from surveys.units.models import Unit


def unit_ids(session: Session, codes: dict[str, str | None]) -> dict[str, int]:
    out = {}
    for name, code in codes.items():
        if code:
            uid = session.execute(select(col(Unit.id)).where(col(Unit.code) == code)).scalar()
            if uid is None:
                raise Invalid.field(("query", name), f"unknown unit code '{code}'")
            out[name] = int(uid)
    return out


def whole_cells(
    session: Session,
    *,
    campaign_id: int,
    fields: list[str],
    unit_id: int | None,
    area_id: int | None,
    include_flagged: bool,
    k: int,
    withheld: list[tuple[Any, ...]] | None = None,
) -> dict[tuple[Any, ...], int]:
    """Groups (values of ``fields``; "period" is the month) under the unit and area filters
    whose respondents are whole disclosure blocks, with their respondents: the only ones
    whose comments may show. The others are appended to ``withheld`` when given."""
    found = cube.groups(
        session,
        campaign_id=campaign_id,
        fields=fields,
        period="month",
        include_flagged=include_flagged,
        filters=Filters(unit_id=unit_id, area_id=area_id),
        k=k,
    )
    if withheld is not None:
        withheld += sorted((key for key, (_n, whole) in found.items() if not whole), key=repr)
    return {key: n for key, (n, whole) in found.items() if whole}


def unit_codes(session: Session, ids: set[int]) -> dict[int, str]:
    """The codes of units, by id."""
    stmt = select(col(Unit.id), col(Unit.code)).where(col(Unit.id).in_(sorted(ids) or [-1]))
    return {int(i): str(c) for i, c in session.execute(stmt).all()}


def comments_of_cells(
    campaign: Any, cells: Any, *, include_flagged: bool, ids: dict[str, int]
) -> list[Any]:
    """Conditions on ``survey_response`` for the non-empty comments of the given whole (unit,
    month) cells (``whole_cells``) under the unit and area filters: every view that reads
    comment texts or their labels selects them through this, so none reaches past the cells
    that may be published. ``campaign`` is the condition on the campaign."""
    r = SurveyResponse
    months: dict[int, list[str]] = defaultdict(list)
    for uid, month in cells:
        months[int(uid)].append(str(month))
    conds: list[Any] = [
        campaign,
        col(r.comment).is_not(None),
        col(r.comment) != "",
        or_(
            *[
                and_(col(r.unit_id) == uid, or_(*[in_month(col(r.submitted_hour), m) for m in ms]))
                for uid, ms in sorted(months.items())
            ]
        ),
    ]
    if not include_flagged:
        conds.append(col(r.flagged) == false())
    if "unit_code" in ids:
        conds.append(col(r.unit_id) == ids["unit_code"])
    if "area_code" in ids:
        conds.append(col(r.area_unit_id) == ids["area_code"])
    return conds


def in_month(column: Any, month: str) -> Any:
    """``column`` (a UTC time) falls in the month YYYY-MM."""
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    end = (start + timedelta(days=32)).replace(day=1)
    return and_(column >= start, column < end)


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
    # Each comment is shown with its unit and month, under the request's unit and area
    # filters: it is listed only when that (unit, month) cell under those filters is whole
    # disclosure blocks, so whatever listings are compared, the candidates for its author
    # are a union of blocks, never fewer than min_group_size (docs/methodology.md).
    withheld: list[tuple[Any, ...]] = []
    cells = whole_cells(
        session,
        campaign_id=campaign_id,
        fields=["unit", "period"],
        unit_id=ids.get("unit_code"),
        area_id=ids.get("area_code"),
        include_flagged=include_flagged,
        k=min_group_size,
        withheld=withheld,
    )
    method = {
        "min_group_size": min_group_size,
        "rule": "comments only from (unit, month) groups under the filters that are whole "
        "disclosure blocks of at least min_group_size respondents",
        "sentiment_model": MODEL_NAME,
        # What the list leaves out, so that a reader knows whose comments it covers.
        "withheld": [
            {"unit_code": code, "month": month}
            for code, month in sorted(
                (codes[int(uid)], str(m))
                for codes in [unit_codes(session, {int(u) for u, _m in withheld})]
                for uid, m in withheld
            )
        ],
    }
    pending = pending_count(session, campaign_id=campaign_id)
    if not cells:
        return CommentPage(0, [], True, pending, method, False)
    r = SurveyResponse
    conds = comments_of_cells(
        # "+ 0": walk the responses newest first by primary key and stop at the page's end,
        # rather than read (and sort) all the campaign's responses through its index
        # (measured on the million-response demo, SQLite: 1.26 s -> 3 ms).
        col(r.campaign_id) + 0 == campaign_id,
        cells,
        include_flagged=include_flagged,
        ids=ids,
    )
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
