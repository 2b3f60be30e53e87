"""Per-respondent answers of the published groups, for statistics that need more than counts.

Counts per scale point give every first moment and each question's variance, but not how one
respondent's answers move together (Cronbach's alpha, correlations between dimensions). Those
are read from the columnar copy (``analytics.indicators.cube``) of the kept respondents, and
only for the groups the indicators view would publish: whole disclosure blocks of at least
``k`` respondents (``cube.published``, the rule behind ``table.suppression``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlmodel import Session

from analytics.indicators import cube
from analytics.indicators.queries import Filters


@dataclass
class Answers:
    """Answers per question key (NaN: not answered) of the kept respondents of one group."""

    key: tuple[Any, ...]
    n: int  # respondents of the group
    published: bool
    values: dict[str, np.ndarray]


def answers(
    session: Session,
    *,
    campaign_id: int,
    fields: Sequence[str],
    period: str | None,
    include_flagged: bool,
    filters: Filters,
    k: int,
) -> list[Answers]:
    """The groups (values of ``fields``, as ``cube.groups`` keys them) with their respondents'
    answers; a group that may not be published carries no answers."""
    shown = cube.published(
        session,
        campaign_id=campaign_id,
        fields=fields,
        period=period,
        include_flagged=include_flagged,
        filters=filters,
        k=k,
    )
    _cube, _n, c, raw, tables = cube._snapshot(session, campaign_id)
    keep = cube._kept(c, tables, include_flagged, filters)
    group, _size, labels = cube._grouping(c, tables, fields, period)
    group = group[keep]
    out: list[Answers] = []
    for g in np.unique(group).tolist():
        rest, key = g, []
        for j in range(len(fields) - 1, -1, -1):
            rest, code = divmod(rest, max(len(labels[j]), 1))
            value = labels[j][code]
            key.append(int(value) if fields[j] in ("unit", "area") else value)
        tkey = tuple(reversed(key))
        rows = group == g
        n = int(rows.sum())
        ok = tkey in shown and n >= k
        values: dict[str, np.ndarray] = {}
        if ok:
            for qkey, codes in raw.items():
                # Code -1 (no answer) picks the NaN appended after the scale's values.
                lut = np.asarray([*tables[qkey][0], np.nan], dtype=float)
                values[qkey] = lut[codes[keep][rows]]
        out.append(Answers(key=tkey, n=n, published=ok, values=values))
    return out
