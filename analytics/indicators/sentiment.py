"""Sentiment of the comments per unit: label shares and the negative share's interval.

Computed from the labels stored when comments are scored; the comment panels of the
dashboard and the report read it here.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from analytics.indicators import cube, lookups
from analytics.indicators.queries import Filters
from analytics.indicators.statistics import wilson


def sentiment_by_unit(
    session: Session,
    *,
    campaign_id: int,
    units: dict[int, str],
    area_code: str | None = None,
    include_flagged: bool = False,
    min_group_size: int = 5,
) -> list[dict[str, Any]]:
    """Share of positive / neutral / negative comments per unit (units: id -> code), with the
    negative share's Wilson interval; units with fewer than k scored comments are suppressed."""
    counts: dict[str, dict[str, int]] = {}
    whole: set[int] = set()
    if units:
        area_id = lookups.unit_id(session, area_code) if area_code else None
        # Counts of a unit's comments are shown only when the unit (in the area) is whole
        # disclosure blocks (``analytics.indicators.disclosure``).
        whole = {
            int(key[0])
            for key in cube.published(
                session,
                campaign_id=campaign_id,
                fields=["unit"],
                period=None,
                include_flagged=include_flagged,
                filters=Filters(area_id=None if area_id is None else int(area_id)),
                k=min_group_size,
            )
        }
        for uid, label, n in lookups.sentiment_counts(
            session,
            campaign_id=campaign_id,
            unit_ids=list(units),
            area_id=area_id,
            include_flagged=include_flagged,
        ):
            if uid in whole:
                counts.setdefault(units[uid], {})[label] = n
            else:
                counts.setdefault(units[uid], {})
    out: list[dict[str, Any]] = []
    for code, by_label in sorted(counts.items()):
        n = sum(by_label.values())
        if n < min_group_size:
            out.append({"unit_code": code, "n": None, "suppressed": True})
            continue
        neg = by_label.get("negative", 0) / n
        lo, hi = wilson(neg, n)
        out.append(
            {
                "unit_code": code,
                "n": n,
                "positive": round(by_label.get("positive", 0) / n, 4),
                "neutral": round(by_label.get("neutral", 0) / n, 4),
                "negative": round(neg, 4),
                "negative_ci_low": round(lo, 4),
                "negative_ci_high": round(hi, 4),
                "suppressed": False,
            }
        )
    return out
