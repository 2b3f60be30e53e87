"""The distribution of answers: per rated question (and unit), the count and share of every
scale point, the top-two and bottom-two shares, and a Wilson interval for the top-two share.

A mean of an ordinal scale hides polarisation (half the answers at 1 and half at 5 give the
same mean as all at 3), so this view shows the whole distribution. It is built from the same
counts per scale point as every other view (``cube.counts`` / ``queries.fetch_counts``), never
from the raw answers, and it publishes a group only when the indicators view would: the
suppression of ``analytics.indicators.table.build_table`` grouped the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlmodel import Session

from analytics.indicators.disclosure import PRIMARY
from analytics.indicators.params import check_month, get_campaign, resolve_filters
from analytics.indicators.queries import (
    Counts,
    Filters,
    QuestionInfo,
    campaign_questions,
)
from analytics.indicators.service import INTERVAL_NOTE, IndicatorResult
from analytics.indicators.statistics import CONFIDENCE, rounded, wilson
from analytics.indicators.table import build_table, read_counts, suppression, unit_names
from analytics.indicators.weighting import cell_weights
from service.db import stored_id
from service.errors import Invalid
from surveys.forms.models import Campaign

BY = ("unit", "district")
# NPS questions: promoters (9-10) are the "top" group, detractors (0-6) the "bottom" one.
NPS_TOP = (9.0, 10.0)
NPS_BOTTOM = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)


def end_points(q: QuestionInfo) -> tuple[list[float], list[float]]:
    """The scale points counted as the top and the bottom of a question.

    Rating: the two highest and the two lowest points of the question's own scale; on a scale
    of fewer than 4 points two points would reach the midpoint (or overlap), so only the
    highest and the lowest. NPS: promoters 9-10 and detractors 0-6."""
    if q.type == "nps":
        return list(NPS_TOP), list(NPS_BOTTOM)
    points = scale(q)
    width = 2 if len(points) >= 4 else 1
    return points[-width:], points[:width]


def scale(q: QuestionInfo) -> list[float]:
    """Every point of the question's scale, lowest first."""
    return [float(v) for v in range(int(q.scale_min), int(q.scale_max) + 1)]


def parse_district(by: str | None) -> bool:
    """True for district-wide rows, False for one row per unit (422 for anything else)."""
    if by is None or by == "unit":
        return False
    if by == "district":
        return True
    raise Invalid.field(("query", "by"), f"use one of {', '.join(BY)}")


def distribution(
    session: Session,
    *,
    campaign_id: int,
    by: str | None = "unit",
    weighted: bool = False,
    include_flagged: bool = False,
    min_group_size: int = 5,
    unit_code: str | None = None,
    area_code: str | None = None,
    age_band: str | None = None,
    sex: str | None = None,
    month: str | None = None,
) -> IndicatorResult:
    """Distribution of the answers to each rated question, per unit (``by="unit"``) or
    district-wide (``by="district"``), under the usual filters."""
    district = parse_district(by)
    check_month(month)
    campaign = get_campaign(session, campaign_id)
    filters = resolve_filters(
        session, unit_code=unit_code, area_code=area_code, age_band=age_band, sex=sex
    )
    fields = [] if district else ["unit"]
    period = "month" if month else None
    k = min_group_size
    # The group decides publication exactly as in the indicators view grouped the same way.
    t = build_table(
        session,
        campaign=campaign,
        by=fields,
        period=period,
        weighted=weighted,
        include_flagged=include_flagged,
        filters=filters,
        k=k,
    )
    hidden = suppression(t, k)
    counts = _counts(session, campaign, fields, period, weighted, include_flagged, filters, k)
    questions = campaign_questions(session, campaign=campaign)
    cells = _cells(counts, fields + (["period"] if period else []), questions)
    labels = unit_names(session, t).get("unit", {})
    rows: list[dict[str, Any]] = []
    keys = [key for key in t.keys if month is None or str(key[-1]).startswith(month)]
    for key in keys:
        head: dict[str, Any] = {}
        if not district:
            code, name, name_en = labels.get(int(key[0]), (None, "", ""))
            head = {"unit_code": code, "unit_name": name, "unit_name_en": name_en}
        for qkey in sorted(questions):
            q = questions[qkey]
            row = {**head, "question": qkey, "dimension": q.dimension, "type": q.type}
            cell = cells.get((key, qkey))
            if cell is None:
                continue
            reason = hidden.get(key) or (PRIMARY if cell[0].sum() < k else None)
            row.update(_published(q, *cell) if reason is None else {})
            row["suppressed"] = reason
            rows.append(row)
    rows.sort(key=lambda r: (r.get("unit_code") or "", r["question"]))
    method = {
        "by": "district" if district else "unit",
        "weighted": weighted,
        "include_flagged": include_flagged,
        "month": month,
        "source": counts.source,
        "confidence": CONFIDENCE,
        "share": "count of each scale point / answers to the question"
        + (" (weighted: sum of weights / total weight)" if weighted else ""),
        "top_two": "rating: share of answers in the two highest points of the question's "
        "scale (only the highest on a scale of fewer than 4 points); NPS: promoters (9-10)",
        "bottom_two": "rating: share of answers in the two lowest points of the question's "
        "scale (only the lowest on a scale of fewer than 4 points); NPS: detractors (0-6)",
        "interval": "Wilson score interval of the top-two share"
        + (" on the Kish effective number of answers (sum w)^2 / sum w^2" if weighted else ""),
        "weighting": t.weighting,
        "min_group_size": k,
        "suppression": "a group (unit, or the district) is published only when the indicators "
        "view publishes it (primary: fewer than min_group_size respondents; secondary: its "
        "respondents are not whole disclosure blocks); a question answered by fewer than "
        "min_group_size respondents of a published group is suppressed too (primary)",
        "suppressed_cells": sum(1 for r in rows if r["suppressed"]),
        "note": INTERVAL_NOTE,
    }
    return IndicatorResult(rows=rows, method=method)


def _counts(
    session: Session,
    campaign: Campaign,
    fields: list[str],
    period: str | None,
    weighted: bool,
    include_flagged: bool,
    filters: Filters,
    k: int,
) -> Counts:
    """Counts per (group, question, scale point) from the source ``build_table`` reads."""
    weights = cell_weights(session, campaign, include_flagged, k)[0] if weighted else None
    return read_counts(
        session,
        campaign_id=stored_id(campaign),
        fields=fields + (["period"] if period else []),
        period=period,
        include_flagged=include_flagged,
        filters=filters,
        weights=weights,
        k=k,
    )


def _cells(
    counts: Counts, fields: list[str], questions: dict[str, QuestionInfo]
) -> dict[tuple[tuple[Any, ...], str], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per (group key, question): answers, sum of weights and of squared weights per point of
    the question's scale (zeros for points nobody chose)."""
    out: dict[tuple[tuple[Any, ...], str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    cols = [counts.keys[f].tolist() for f in fields]
    qs, vs = counts.question.tolist(), counts.value.tolist()
    ns, wns, w2ns = counts.n.tolist(), counts.wn.tolist(), counts.w2n.tolist()
    for i, qkey in enumerate(qs):
        q = questions.get(str(qkey))
        if q is None:
            continue
        j = int(round(vs[i] - q.scale_min))
        size = int(q.scale_max - q.scale_min) + 1
        if not 0 <= j < size:
            continue
        key = tuple(int(c[i]) if f == "unit" else c[i] for f, c in zip(fields, cols, strict=True))
        cell = out.get((key, q.key))
        if cell is None:
            cell = out[(key, q.key)] = (np.zeros(size), np.zeros(size), np.zeros(size))
        cell[0][j] += ns[i]
        cell[1][j] += wns[i]
        cell[2][j] += w2ns[i]
    return out


def _published(q: QuestionInfo, n: np.ndarray, wn: np.ndarray, w2n: np.ndarray) -> dict[str, Any]:
    """The numbers of one published (group, question): counts, shares, top and bottom."""
    points = scale(q)
    top, bottom = end_points(q)
    sw, sw2 = float(wn.sum()), float(w2n.sum())
    share = wn / sw
    n_eff = sw * sw / sw2 if sw2 > 0 else 0.0
    is_top = np.isin(points, top)
    is_bottom = np.isin(points, bottom)
    top_share = float(share[is_top].sum())
    low, high = wilson(top_share, n_eff)
    return {
        "scale_min": q.scale_min,
        "scale_max": q.scale_max,
        "n": int(n.sum()),
        "n_eff": rounded(n_eff, 2),
        "points": [
            {"value": v, "count": int(c), "share": rounded(s)}
            for v, c, s in zip(points, n.tolist(), share.tolist(), strict=True)
        ],
        "top_values": top,
        "bottom_values": bottom,
        "top_share": rounded(top_share),
        "bottom_share": rounded(float(share[is_bottom].sum())),
        "top_ci_low": rounded(low),
        "top_ci_high": rounded(high),
    }
