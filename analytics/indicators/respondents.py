"""Per-respondent answers of the published groups, for statistics that need more than counts.

Counts per scale point give every first moment and each question's variance, but not how one
respondent's answers move together (Cronbach's alpha, correlations between dimensions). Those
are read from the columnar copy (``analytics.indicators.cube``) of the kept respondents, and
only for the groups the indicators view would publish: whole disclosure blocks of at least
``k`` respondents (``cube.published``, the rule behind ``table.suppression``).

The answers stay codes until a statistic asks for one question of one group: at ten million
respondents a float64 copy of every question's column was 80 MB each, six of them held for
the whole request on top of the statistic's own arrays (the dashboard's reliability peaked at
a gigabyte over the worker's size). A question's codes are gathered once, in the groups'
order (int16: a quarter of that), and turned into values per group when read. The columns are
read where they are (the mapped generation and the tail, ``cube_query.Snap``), never copied
whole, and the single group of a district-wide figure needs no sort.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlmodel import Session

from analytics.indicators import cube
from analytics.indicators.cube_query import Snap
from analytics.indicators.cube_tally import _decode, _encode, period_code, period_label
from analytics.indicators.queries import Filters

_COLUMN = {"unit": "unit", "area": "area", "age_band": "age", "sex": "sex"}


@dataclass
class Answers:
    """Answers per question key (NaN: not answered) of the kept respondents of one group."""

    key: tuple[Any, ...]
    n: int  # respondents of the group
    published: bool
    values: Mapping[str, np.ndarray]


class _Codes:
    """Every question's answer codes of the query's rows, ordered by group (each group one
    slice), gathered on a question's first read."""

    def __init__(self, snap: Snap, keep: list[np.ndarray | None], order: np.ndarray | None) -> None:
        self.snap, self.keep, self.order = snap, keep, order
        self.pieces = snap.pieces(0, snap.total)
        self.codes: dict[str, np.ndarray] = {}
        self.luts: dict[str, np.ndarray] = {}

    def values(self, key: str, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (in group order) of question ``key``, as float values."""
        codes = self.codes.get(key)
        if codes is None:
            parts = [
                a[key] if m is None else a[key][m]
                for (_c, a), m in zip(self.pieces, self.keep, strict=True)
            ]
            codes = parts[0] if len(parts) == 1 else np.concatenate(parts)
            if self.order is not None:
                codes = codes[self.order]
            self.codes[key] = codes
            # Code -1 (no answer) picks the NaN appended after the scale's values.
            self.luts[key] = np.asarray([*self.snap.tables[key][0], np.nan], dtype=float)
        return self.luts[key][codes[start:stop]]


class _Values(Mapping[str, np.ndarray]):
    """One group's answers per question key, made when read (not kept)."""

    def __init__(self, codes: _Codes, start: int, stop: int) -> None:
        self._codes, self._start, self._stop = codes, start, stop

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._codes.snap.keys:
            raise KeyError(key)
        return self._codes.values(key, self._start, self._stop)

    def __iter__(self) -> Iterator[str]:
        return iter(self._codes.snap.keys)

    def __len__(self) -> int:
        return len(self._codes.snap.keys)


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
    """The groups (values of ``fields``, ordered by them as the columns' codes and period
    numbers order them) with their respondents' answers; a group that may not be published
    carries no answers."""
    shown = cube.published(
        session,
        campaign_id=campaign_id,
        fields=fields,
        period=period,
        include_flagged=include_flagged,
        filters=filters,
        k=k,
    )
    snap = cube._snap(session, campaign_id)
    keep: list[np.ndarray | None] = []
    kept = 0
    for c, _a in snap.pieces(0, snap.total):
        m = cube._kept(c, snap.tables, include_flagged, filters)
        whole = bool(m.all())
        keep.append(None if whole else m)
        kept += len(m) if whole else int(np.count_nonzero(m))
    if kept == 0:
        return []
    if fields:
        order, starts, sizes, keys = _groups(snap, keep, fields, period)
    else:
        order, starts, sizes, keys = None, [0], [kept], [()]
    codes = _Codes(snap, keep, order)
    out: list[Answers] = []
    for tkey, start, n in zip(keys, starts, sizes, strict=True):
        ok = tkey in shown and n >= k
        values: Mapping[str, np.ndarray] = _Values(codes, start, start + n) if ok else {}
        out.append(Answers(key=tkey, n=int(n), published=ok, values=values))
    return out


def _groups(
    snap: Snap, keep: list[np.ndarray | None], fields: Sequence[str], period: str | None
) -> tuple[np.ndarray, list[int], list[int], list[tuple[Any, ...]]]:
    """The kept rows' order by group (stable), and each group's first row, size and key.

    Groups are numbered by the columns' stable codes and absolute period numbers, so the
    generation's and the tail's rows group alike without a common dense numbering."""
    pieces = snap.pieces(0, snap.total)
    parts: list[np.ndarray] = []
    for f in fields:
        chunks = []
        for (c, _a), m in zip(pieces, keep, strict=True):
            if f in _COLUMN:
                col = np.asarray(c[_COLUMN[f]])
            else:
                col = period_code(np.asarray(c["day"]), period or "month")
            chunks.append(col if m is None else col[m])
        parts.append(chunks[0] if len(chunks) == 1 else np.concatenate(chunks))
        del chunks
    enc = _encode(parts)
    if enc is not None:
        gkey, los, dims, _total = enc
        del parts
        order = np.argsort(gkey, kind="stable")
        gkey = gkey[order]
        new = np.empty(len(gkey), bool)
        new[0] = True
        np.not_equal(gkey[1:], gkey[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        codes = _decode(gkey[starts], los, dims)
    else:  # ranges too wide for one number: the distinct rows of the parts
        uniq, inv = np.unique(np.stack(parts), axis=1, return_inverse=True)
        del parts
        order = np.argsort(inv.reshape(-1), kind="stable")
        starts = np.searchsorted(inv.reshape(-1)[order], np.arange(uniq.shape[1]))
        codes = list(uniq)
    sizes = np.diff(np.append(starts, len(order)))
    labels = [_labels(snap, f, period, c) for f, c in zip(fields, codes, strict=True)]
    keys = [tuple(lab[i] for lab in labels) for i in range(len(starts))]
    return order, starts.tolist(), sizes.tolist(), keys


def _labels(snap: Snap, f: str, period: str | None, codes: np.ndarray) -> list[Any]:
    """The value of field ``f`` behind each code (unit and area ids as ints)."""
    if f in _COLUMN:
        values = snap.tables[_COLUMN[f]][0]
        return [int(values[c]) if f in ("unit", "area") else values[c] for c in codes.tolist()]
    return [period_label(c, period or "month") for c in codes.tolist()]
