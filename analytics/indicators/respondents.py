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
    # Sorted once by group, so each group's answers are one slice of every column.
    order = np.argsort(group, kind="stable")
    present, starts, sizes = np.unique(group[order], return_index=True, return_counts=True)
    columns: dict[str, np.ndarray] = {}
    out: list[Answers] = []
    for g, start, n in zip(present.tolist(), starts.tolist(), sizes.tolist(), strict=True):
        tkey = cube.group_key(g, fields, labels)
        ok = tkey in shown and n >= k
        values: dict[str, np.ndarray] = {}
        if ok:
            for qkey, codes in raw.items():
                if qkey not in columns:
                    # Code -1 (no answer) picks the NaN appended after the scale's values.
                    lut = np.asarray([*tables[qkey][0], np.nan], dtype=float)
                    columns[qkey] = lut[codes[keep][order]]
                values[qkey] = columns[qkey][start : start + n]
        out.append(Answers(key=tkey, n=int(n), published=ok, values=values))
    return out
