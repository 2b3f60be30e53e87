"""Response rate of an invitation campaign: codes used / codes issued, overall and per batch.

The rate is a census of the codes, not an estimate from a sample, so it has no interval. A
code's ``used`` flag carries no time and no link to the response it admitted; the batch is a
column of the code only, so no response can be tied to a batch through these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Integer, func
from sqlmodel import Session, select

from service.errors import Conflict
from surveys.forms.models import INVITATION_TABLE, Access, Campaign


@dataclass(frozen=True)
class BatchRate:
    batch: str
    issued: int
    used: int

    @property
    def rate(self) -> float | None:
        return rate(self.used, self.issued)


@dataclass(frozen=True)
class ResponseRate:
    issued: int
    used: int
    batches: list[BatchRate] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        return rate(self.used, self.issued)

    def as_dict(self) -> dict[str, object]:
        return {
            "issued": self.issued,
            "used": self.used,
            "rate": self.rate,
            "batches": [
                {"batch": b.batch, "issued": b.issued, "used": b.used, "rate": b.rate}
                for b in self.batches
            ],
        }


def rate(used: int, issued: int) -> float | None:
    """Share of issued codes that were used (0..1); None when none were issued."""
    return used / issued if issued else None


def response_rate(session: Session, *, campaign: Campaign) -> ResponseRate:
    """Codes issued and used, overall and per batch (batches in order of their first code).

    Raises Conflict (409) for an open campaign: it has no codes, so no rate.
    """
    if campaign.access != Access.invitation:
        raise Conflict("This campaign is open to everyone; it has no invitation codes")
    t = INVITATION_TABLE
    rows = session.exec(
        select(
            t.c.batch,
            func.count(),
            func.coalesce(func.sum(func.cast(t.c.used, Integer)), 0),
            func.min(t.c.id),
        )
        .where(t.c.campaign_id == campaign.id)
        .group_by(t.c.batch)
        .order_by(func.min(t.c.id))
    ).all()
    batches = [BatchRate(str(b), int(n), int(u)) for b, n, u, _ in rows]
    return ResponseRate(
        issued=sum(b.issued for b in batches),
        used=sum(b.used for b in batches),
        batches=batches,
    )
