"""How a campaign is going, for its admin: responses per day and per unit, and flagged counts.

Admins read raw responses anyway (the export), so these counts are not disclosure-controlled;
they must never be shown to evaluators. Responses keep only their hour, so a day is cut from
the hour in the office's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, func
from sqlmodel import Session, col, select

from service.localtime import DATE, local_time
from surveys.forms.models import RESPONSE_TABLE, CampaignUnit
from surveys.units.models import Unit


@dataclass(frozen=True)
class DayCount:
    day: str  # YYYY-MM-DD in the office's zone
    responses: int
    flagged: int


@dataclass(frozen=True)
class UnitCount:
    code: str
    name: str
    responses: int
    flagged: int


def _flagged() -> object:
    return func.coalesce(func.sum(func.cast(RESPONSE_TABLE.c.flagged, Integer)), 0)


def responses_by_day(session: Session, *, campaign_id: int, time_zone: str) -> list[DayCount]:
    """Responses and flagged responses per local day, oldest first (days with none left out)."""
    t = RESPONSE_TABLE
    rows = session.exec(
        select(t.c.submitted_hour, func.count(), _flagged())  # type: ignore[call-overload]
        .where(t.c.campaign_id == campaign_id)
        .group_by(t.c.submitted_hour)
    ).all()
    days: dict[str, list[int]] = {}
    for hour, n, flagged in rows:
        day = local_time(hour if isinstance(hour, datetime) else None, time_zone, DATE)
        totals = days.setdefault(day, [0, 0])
        totals[0] += int(n)
        totals[1] += int(flagged)
    return [DayCount(d, n, f) for d, (n, f) in sorted(days.items())]


def responses_by_unit(session: Session, *, campaign_id: int) -> list[UnitCount]:
    """Every unit of the campaign with its responses and flagged responses (zero included)."""
    t = RESPONSE_TABLE
    counts = {
        int(uid): (int(n), int(f))
        for uid, n, f in session.exec(
            select(t.c.unit_id, func.count(), _flagged())  # type: ignore[call-overload]
            .where(t.c.campaign_id == campaign_id)
            .group_by(t.c.unit_id)
        ).all()
    }
    units = session.exec(
        select(Unit.id, Unit.code, Unit.name)
        .join(CampaignUnit, col(CampaignUnit.unit_id) == Unit.id)
        .where(CampaignUnit.campaign_id == campaign_id)
        .order_by(col(Unit.id))
    ).all()
    return [UnitCount(code, name, *counts.get(int(uid or 0), (0, 0))) for uid, code, name in units]
