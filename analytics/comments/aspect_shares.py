"""Complaints per dimension (aspect): how many comments speak of each dimension, the share of
them that are negative (95% Wilson interval), its month-by-month movement with the trends'
alert rule, and the top complaint themes of each dimension.

The one function every consumer calls (the API ``GET /api/v1/campaigns/{id}/comments/aspects``,
the dashboard's aspect panels) is ``aspect_shares``. Aspects come from
``comment_sentiment.aspects``, stored when a comment is scored; untagged comments (aspects
null) are not counted and are reported as ``untagged``.

Disclosure: a comment is counted only when its (unit, month) cell under the request's unit
and area filters is whole disclosure blocks, exactly the comments the comment list may show
(``analytics.comments.search``); every count here is a sub-count of those comments, which the
list already shows one by one with their sentiment, so these views tell nothing the list does
not (docs/security.md). A group (dimension, and unit or month when asked) with fewer than
``min_group_size`` comments is suppressed, as ``sentiment_by_unit`` does.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy import and_, select
from sqlmodel import Session, col

from analytics.comments.models import CommentSentiment
from analytics.comments.scoring import pending_count
from analytics.comments.search import comments_of_cells, unit_codes, unit_ids, whole_cells
from analytics.comments.sentiment import MODEL_NAME
from analytics.comments.themes import theme_rows
from analytics.indicators import benjamini_hochberg, get_campaign, wilson
from analytics.indicators.statistics import change_test, rounded
from surveys.forms.models import SurveyResponse

# A comment's record: (aspects, label, unit id, month, text).
Record = tuple[list[str], str, int, str, str]


def aspect_shares(
    session: Session,
    *,
    campaign_id: int,
    unit_code: str | None = None,
    area_code: str | None = None,
    include_flagged: bool = False,
    min_group_size: int = 5,
    by_unit: bool = False,
    alpha: float = 0.05,
    top: int = 5,
    max_comments: int = 5000,
) -> dict[str, Any]:
    """Per dimension (and per unit when ``by_unit``): comments speaking of it, negative ones,
    the negative share with its Wilson interval; per month, the same with each change between
    consecutive months tested as the indicator trends do; the top complaint themes."""
    get_campaign(session, campaign_id)
    records, untagged = _records(
        session,
        campaign_id=campaign_id,
        unit_code=unit_code,
        area_code=area_code,
        include_flagged=include_flagged,
        k=min_group_size,
    )
    codes = unit_codes(session, {r[2] for r in records}) if by_unit else {}

    def key(rec: Record, aspect: str) -> tuple[str, ...]:
        return (aspect, codes[rec[2]]) if by_unit else (aspect,)

    overall: dict[tuple[str, ...], list[str]] = defaultdict(list)
    monthly: dict[tuple[str, ...], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    per_aspect: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for rec in records:
        aspects, label, _uid, month, text = rec
        for a in aspects:
            overall[key(rec, a)].append(label)
            monthly[key(rec, a)][month].append(label)
            if len(per_aspect[a]) < max_comments:
                per_aspect[a].append((text, label))
    names = ["aspect", "unit_code"] if by_unit else ["aspect"]
    rows = [
        {**dict(zip(names, k, strict=True)), **share_row(labels, min_group_size)}
        for k, labels in sorted(overall.items())
    ]
    months = [
        {**dict(zip(names, k, strict=True)), "month": m, **share_row(labels, min_group_size)}
        for k, by_month in sorted(monthly.items())
        for m, labels in sorted(by_month.items())
    ]
    changes = alert_changes(months, names, alpha=alpha)
    themes = {}
    for a, comments in sorted(per_aspect.items()):
        if len(comments) < min_group_size:
            continue
        negatives = [t for t, lab in comments if lab == "negative"]
        themes[a] = [
            t for t in theme_rows(comments, top=top, source=negatives) if t["negative"] > 0
        ]
    return {
        "rows": rows,
        "months": months,
        "changes": changes,
        "themes": themes,
        "untagged": untagged,
        "pending": pending_count(session, campaign_id=campaign_id),
        "method": {
            "share": "negative comments / comments speaking of the dimension, with the 95% "
            "Wilson score interval",
            "rule": "comments only from (unit, month) groups under the filters that are whole "
            "disclosure blocks; a dimension (unit, month) with fewer than min_group_size "
            "comments is suppressed",
            "test": "each change of the negative share between consecutive months: the "
            "indicator trends' test (Welch t on the 0/1 negative indicator, the exact "
            "permutation test when neither month has any spread) and Benjamini-Hochberg false "
            f"discovery rate {alpha} across all tested changes",
            "themes": "jieba TF-IDF keywords of the dimension's negative comments found in at "
            "least two of its comments, by the lower bound of the negative share",
            "sentiment_model": MODEL_NAME,
            "min_group_size": min_group_size,
        },
    }


def share_row(labels: list[str], k: int) -> dict[str, Any]:
    """Comments, negative ones and the negative share with its Wilson interval; suppressed
    (no numbers) under ``k`` comments."""
    n = len(labels)
    if n < k:
        return {"comments": None, "negative": None, "suppressed": True}
    neg = sum(1 for lab in labels if lab == "negative")
    lo, hi = wilson(neg / n, n)
    return {
        "comments": n,
        "negative": neg,
        "negative_share": rounded(neg / n),
        "ci_low": rounded(lo),
        "ci_high": rounded(hi),
        "suppressed": False,
    }


def alert_changes(
    months: list[dict[str, Any]], names: list[str], *, alpha: float = 0.05
) -> list[dict[str, Any]]:
    """Changes of the negative share between consecutive months of each series, tested as
    ``analytics.indicators.service.trends`` tests a change of a mean score: the share is the
    mean of a 0/1 answer, its SE the indicator's (n/(n-1) correction), df + 1 = n, and the
    same ``change_test`` and Benjamini-Hochberg adjustment at ``alpha``."""
    series: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in months:
        series[tuple(r[f] for f in names)].append(r)
    changes: list[dict[str, Any]] = []
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for k, rows in sorted(series.items()):
        rows.sort(key=lambda r: r["month"])
        for a, b in zip(rows, rows[1:], strict=False):
            c: dict[str, Any] = {**dict(zip(names, k, strict=True)), "from": a["month"]}
            c["to"] = b["month"]
            changes.append(c)
            if a["suppressed"] or b["suppressed"]:
                c["suppressed"] = True
            else:
                pairs.append((a, b))
    tested = [c for c in changes if "suppressed" not in c]
    if not pairs:
        return changes
    n = np.array([[float(r["comments"]) for r in pair] for pair in pairs])
    p = np.array([[float(r["negative"]) for r in pair] for pair in pairs]) / n
    se = np.sqrt(p * (1 - p) / (n - 1))
    diff = p[:, 1] - p[:, 0]
    _t, _df, pv = change_test(diff, se[:, 0], se[:, 1], n[:, 0], n[:, 1], n[:, 0], n[:, 1])
    q = benjamini_hochberg(pv)
    for i, c in enumerate(tested):
        c.update(
            share_from=rounded(p[i, 0]),
            share_to=rounded(p[i, 1]),
            change=rounded(diff[i]),
            p_value=rounded(pv[i], 8),
            q_value=rounded(q[i], 8),
            alert=bool(q[i] < alpha),
            direction="up" if diff[i] > 0 else "down",
            suppressed=False,
        )
    return changes


def _records(
    session: Session,
    *,
    campaign_id: int,
    unit_code: str | None,
    area_code: str | None,
    include_flagged: bool,
    k: int,
) -> tuple[list[Record], int]:
    """The tagged, scored comments of whole (unit, month) cells, and how many scored comments
    of those cells carry no aspects."""
    ids = unit_ids(session, {"unit_code": unit_code, "area_code": area_code})
    cells = whole_cells(
        session,
        campaign_id=campaign_id,
        fields=["unit", "period"],
        unit_id=ids.get("unit_code"),
        area_id=ids.get("area_code"),
        include_flagged=include_flagged,
        k=k,
    )
    if not cells:
        return [], 0
    r = SurveyResponse
    conds = comments_of_cells(
        col(r.campaign_id) == campaign_id, cells, include_flagged=include_flagged, ids=ids
    )
    stmt = (
        select(
            col(CommentSentiment.aspects),
            col(CommentSentiment.label),
            col(r.unit_id),
            col(r.submitted_hour),
            col(r.comment),
        )
        .select_from(r)
        .join(CommentSentiment, col(CommentSentiment.response_id) == col(r.id))
        .where(and_(*conds))
        .order_by(col(r.id).desc())
    )
    out: list[Record] = []
    untagged = 0
    for aspects, label, uid, hour, text in session.execute(stmt).all():
        if not aspects:
            untagged += aspects is None
            continue
        # A dimension counted once per comment, whatever the tagger repeated.
        keys = sorted({str(a) for a in aspects})
        out.append((keys, str(label), int(uid), hour.strftime("%Y-%m"), str(text)))
    return out, untagged
