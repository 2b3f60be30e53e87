"""Query parameters of the indicator views: parsing and checks that answer 422.

Shared by the JSON routes, the dashboard and the report, so every consumer accepts and
refuses the same ``by``, ``weights``, ``period`` and ``month`` values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from analytics.indicators import lookups
from analytics.indicators.queries import PERIODS, Filters, QuestionInfo
from service.db import get_or_404
from service.errors import Invalid
from surveys.forms.models import Campaign

BY_FIELDS = ("unit", "dimension", "area", "age_band", "sex")


def parse_by(by: str | Sequence[str] | None) -> list[str]:
    """Validate a ``by`` list (comma-separated or a sequence) of grouping fields."""
    if by is None:
        return ["unit", "dimension"]
    items = [b.strip() for b in (by.split(",") if isinstance(by, str) else by) if b.strip()]
    bad = [b for b in items if b not in BY_FIELDS]
    if bad:
        raise Invalid.field(
            ("query", "by"), f"unknown field(s) {', '.join(bad)}; use {', '.join(BY_FIELDS)}"
        )
    if len(set(items)) != len(items):
        raise Invalid.field(("query", "by"), "a field is repeated")
    return items


def parse_weights(text: str | None) -> dict[str, float] | None:
    """Parse dimension weights given as ``dim:weight,dim:weight`` (None when not given)."""
    if not text:
        return None
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition(":")
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not sep or not name.strip() or not math.isfinite(weight):
            raise Invalid.field(("query", "weights"), "use dimension:weight pairs, e.g. results:2")
        out[name.strip()] = weight
    return out


def check_period(period: str | None) -> None:
    """422 unless period is None or one of the periods."""
    if period is not None and period not in PERIODS:
        raise Invalid.field(("query", "period"), f"use one of {', '.join(PERIODS)}")


# One calendar month, YYYY-MM: the routes' query patterns are built from it too.
MONTH_PATTERN = r"\d{4}-(0[1-9]|1[0-2])"
MONTH = re.compile(f"^{MONTH_PATTERN}$")


def check_month(month: str | None) -> None:
    """422 unless month is None or YYYY-MM."""
    if month is not None and not MONTH.match(month):
        raise Invalid.field(("query", "month"), "use a month as YYYY-MM")


def in_month(rows: list[dict[str, Any]], month: str, key: str = "period") -> list[dict[str, Any]]:
    """The rows whose period starts in the month: period labels are YYYY-MM-DD (a day, or the
    Monday of a week) or YYYY-MM, so the month is their prefix."""
    return [r for r in rows if str(r[key]).startswith(month)]


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    """The campaign or 404."""
    return get_or_404(session, Campaign, campaign_id, "Campaign")


def resolve_filters(
    session: Session,
    *,
    unit_code: str | None,
    area_code: str | None,
    age_band: str | None,
    sex: str | None,
) -> Filters:
    """The filters with unit codes resolved to ids (422 for an unknown code)."""
    f = Filters(age_band=age_band or None, sex=sex or None)
    for name, code in (("unit_code", unit_code), ("area_code", area_code)):
        if code:
            uid = lookups.unit_id(session, code)
            if uid is None:
                raise Invalid.field(("query", name), f"unknown unit code '{code}'")
            if name == "unit_code":
                f.unit_id = int(uid)
            else:
                f.area_id = int(uid)
    return f


def composite_weights(
    campaign: Campaign, questions: dict[str, QuestionInfo], given: dict[str, float] | None
) -> dict[str, float]:
    """The composite's weight of every rating dimension, in dimension order: ``given``, else
    the campaign's, 1 where unset; 422 for an unknown dimension, a negative weight or all 0."""
    dims = sorted({q.dimension for q in questions.values() if q.type == "rating"})
    weights_in = given if given is not None else (campaign.dimension_weights or {})
    bad = [d for d in weights_in if d not in dims]
    if bad:
        raise Invalid.field(("query", "weights"), f"unknown dimension(s): {', '.join(bad)}")
    wts = {d: float(weights_in.get(d, 1.0)) for d in dims}
    if any(x < 0 for x in wts.values()) or (dims and sum(wts.values()) <= 0):
        raise Invalid.field(("query", "weights"), "weights must be >= 0 and not all zero")
    return wts
