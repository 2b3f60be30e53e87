"""Per-respondent answers of the published groups, for statistics that need more than counts.

Counts per scale point give every first moment and each question's variance, but not how one
respondent's answers move together (Cronbach's alpha, correlations between dimensions). Those
are read from the columnar copy (``analytics.indicators.cube``) of the kept respondents, and
only for the groups the indicators view would publish: whole disclosure blocks of at least
``k`` respondents (``cube.published``, the rule behind ``table.suppression``).

The answers stay codes and are handed out a chunk of rows at a time, each row with its
group's number (``read``), so a statistic accumulates sums per group over chunks and its
memory is a chunk's, not a group's nor the query's: at ten million respondents a float64
copy of one question's column is 80 MB, and the district-wide reliability peaked at a
gigabyte over the worker's size when it held them. The columns are read where they are (the
mapped generation and the tail, ``cube_query.Snap``), in their order: groups are numbered by
the columns' stable codes and absolute period numbers (one ``bincount`` finds them and their
sizes), never by sorting the rows, and no column is copied or gathered whole. Only groupings
too fine for such a numbering (ranges whose product passes ``_DENSE``) sort the rows and
gather each question's codes in group order (int16).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlmodel import Session

from analytics.indicators import cube
from analytics.indicators.cube_query import Snap
from analytics.indicators.cube_tally import (
    _decode,
    _encode,
    combine,
    period_code,
    period_label,
)
from analytics.indicators.queries import Filters

_COLUMN = {"unit": "unit", "area": "area", "age_band": "age", "sex": "sex"}

# Rows a chunk of ``read`` holds at most. A statistic's temporaries are a few float64 arrays
# of a chunk: about 15 MB at this size for reliability over five questions (68 MB at a
# million), and chunks that fit the caches were faster too (bench/reliability_memory.py).
CHUNK = 100_000
# Groupings whose codes' ranges multiply to at most this many numbers are counted with one
# bincount per chunk (8 MB of counts); wider ones are sorted.
_DENSE = 1 << 20


@dataclass
class Answers:
    """The kept respondents of one group of a query; ``read`` hands out their answers."""

    key: tuple[Any, ...]
    n: int  # respondents of the group
    published: bool
    source: _Source | None = None  # None: the group may not be published (no answers)
    number: int = 0  # the group's number in its query


def scale(group: Answers, key: str) -> np.ndarray:
    """The value behind each answer code of question ``key`` (code -1: not answered)."""
    if group.source is None:
        raise KeyError(key)
    return np.asarray(group.source.snap.tables[key][0], dtype=float)


def read(
    groups: Sequence[Answers], keys: Sequence[str], size: int = CHUNK
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """The answer codes of questions ``keys`` (-1: not answered) of the respondents of
    ``groups`` (published groups of one query), at most ``size`` rows at a time: each chunk
    is the position in ``groups`` of every row's group and each question's codes, aligned
    row by row; every respondent of those groups is in exactly one chunk."""
    if not groups:
        return iter(())
    source = groups[0].source
    if source is None or any(g.source is not source for g in groups):
        raise ValueError("groups of one query, published")
    return source.read([g.number for g in groups], list(keys), max(1, size))


class _Source:
    """A query's kept rows and how to tell each row's group: by its fields' codes (numbered
    densely), by one sort (``order``, ``starts``), or none (one group)."""

    def __init__(self, snap: Snap, keep: list[np.ndarray | None], count: int) -> None:
        self.snap, self.keep, self.count = snap, keep, count
        self.pieces = snap.pieces(0, snap.total)
        self.fields: Sequence[str] = ()
        self.period: str | None = None
        self.los: list[int] = []
        self.dims: list[int] = []
        self.number: np.ndarray | None = None  # group number of each dense key
        self.groups = 1
        self.order: np.ndarray | None = None
        self.starts: np.ndarray | None = None
        self.codes: dict[str, np.ndarray] = {}

    def keys(self, c: Mapping[str, np.ndarray], sl: slice, mine: np.ndarray | None) -> np.ndarray:
        """The dense key of each kept row of slice ``sl`` of a piece's columns."""
        parts = []
        for f in self.fields:
            if f in _COLUMN:
                col = np.asarray(c[_COLUMN[f]][sl])
            else:
                col = period_code(np.asarray(c["day"][sl]), self.period or "month")
            parts.append(col if mine is None else col[mine])
        return combine(parts, self.los, self.dims)

    def read(
        self, numbers: list[int], keys: list[str], size: int
    ) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        for key in keys:
            if key not in self.snap.keys:
                raise KeyError(key)
        if self.order is not None:
            yield from self._sorted(numbers, keys, size)
            return
        slot = np.full(self.groups, -1, np.int32)  # position in ``numbers``, -1 not asked
        slot[numbers] = np.arange(len(numbers), dtype=np.int32)
        for (c, a), m in zip(self.pieces, self.keep, strict=True):
            rows = len(c["rid"])
            for s in range(0, rows, size):
                sl = slice(s, min(s + size, rows))
                mine = None if m is None else m[sl]
                if mine is not None and not mine.any():
                    continue
                if self.number is None:  # one group: every kept row
                    where = np.zeros(
                        sl.stop - sl.start if mine is None else int(mine.sum()), np.int32
                    )
                else:
                    where = slot[self.number[self.keys(c, sl, mine)]]
                    wanted = where >= 0
                    if not wanted.all():
                        # Only the rows of the groups asked for: combined with the kept rows.
                        if mine is None:
                            mine = wanted
                        else:
                            mine = mine.copy()
                            mine[mine] = wanted
                        where = where[wanted]
                        if not len(where):
                            continue
                out = {k: a[k][sl] if mine is None else a[k][sl][mine] for k in keys}
                yield where, out

    def _sorted(
        self, numbers: list[int], keys: list[str], size: int
    ) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        assert self.order is not None and self.starts is not None
        ends = np.append(self.starts[1:], len(self.order))
        for i, g in enumerate(numbers):
            start, stop = int(self.starts[g]), int(ends[g])
            for s in range(start, stop, size):
                e = min(s + size, stop)
                yield np.full(e - s, i, np.int32), {k: self._gathered(k)[s:e] for k in keys}

    def _gathered(self, key: str) -> np.ndarray:
        codes = self.codes.get(key)
        if codes is None:
            parts = [
                a[key] if m is None else a[key][m]
                for (_c, a), m in zip(self.pieces, self.keep, strict=True)
            ]
            codes = parts[0] if len(parts) == 1 else np.concatenate(parts)
            assert self.order is not None
            codes = self.codes[key] = codes[self.order]
        return codes


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
    return from_snap(
        cube._snap(session, campaign_id),
        shown=shown,
        fields=fields,
        period=period,
        include_flagged=include_flagged,
        filters=filters,
        k=k,
    )


def from_snap(
    snap: Snap,
    *,
    shown: Mapping[tuple[Any, ...], int],
    fields: Sequence[str],
    period: str | None,
    include_flagged: bool,
    filters: Filters,
    k: int,
) -> list[Answers]:
    """``answers`` over a snapshot of the columns, given the groups that may be published."""
    keep: list[np.ndarray | None] = []
    kept = 0
    for c, _a in snap.pieces(0, snap.total):
        m = cube._kept(c, snap.tables, include_flagged, filters)
        whole = bool(m.all())
        keep.append(None if whole else m)
        kept += len(m) if whole else int(np.count_nonzero(m))
    if kept == 0:
        return []
    source = _Source(snap, keep, kept)
    if fields:
        sizes, keys = _dense(source, fields, period) or _groups(source, fields, period)
    else:
        sizes, keys = [kept], [()]
    out: list[Answers] = []
    for number, (tkey, n) in enumerate(zip(keys, sizes, strict=True)):
        ok = tkey in shown and n >= k
        out.append(
            Answers(key=tkey, n=int(n), published=ok, source=source if ok else None, number=number)
        )
    return out


def _ranges(snap: Snap, fields: Sequence[str], period: str | None) -> tuple[list[int], list[int]]:
    """Each field's lowest code and number of codes: every code a table has given, and the
    periods from the first day to the last (a period number grows with the day)."""
    los, dims = [], []
    for f in fields:
        if f in _COLUMN:
            lo, hi = 0, max(len(snap.tables[_COLUMN[f]][0]) - 1, 0)
        else:
            days = [np.asarray(c["day"]) for c, _a in snap.pieces(0, snap.total)]
            first = min(int(d.min()) for d in days if len(d))
            last = max(int(d.max()) for d in days if len(d))
            ends = period_code(np.asarray([first, last]), period or "month")
            lo, hi = int(ends[0]), int(ends[1])
        los.append(lo)
        dims.append(hi - lo + 1)
    return los, dims


def _dense(
    source: _Source, fields: Sequence[str], period: str | None
) -> tuple[list[int], list[tuple[Any, ...]]] | None:
    """The groups present, in the order of their codes, and their sizes, counted chunk by
    chunk over dense keys (None when the keys' range passes ``_DENSE``)."""
    snap = source.snap
    los, dims = _ranges(snap, fields, period)
    total = int(np.prod(dims, dtype=np.int64))
    if total > _DENSE:
        return None
    source.fields, source.period, source.los, source.dims = fields, period, los, dims
    counts = np.zeros(total, np.int64)
    for (c, _a), m in zip(source.pieces, source.keep, strict=True):
        rows = len(c["rid"])
        for s in range(0, rows, CHUNK):
            sl = slice(s, min(s + CHUNK, rows))
            counts += np.bincount(source.keys(c, sl, None if m is None else m[sl]), minlength=total)
    present = np.flatnonzero(counts)
    number = np.full(total, -1, np.int64)
    number[present] = np.arange(len(present))
    source.number, source.groups = number, len(present)
    codes = _decode(present, los, dims)
    labels = [_labels(snap, f, period, c) for f, c in zip(fields, codes, strict=True)]
    keys = [tuple(lab[i] for lab in labels) for i in range(len(present))]
    return counts[present].tolist(), keys


def _groups(
    source: _Source, fields: Sequence[str], period: str | None
) -> tuple[list[int], list[tuple[Any, ...]]]:
    """The groups present and their sizes, for keys too wide to number densely: the kept
    rows' order by group (stable) and each group's first row, kept in ``source``.

    Groups are numbered by the columns' stable codes and absolute period numbers, so the
    generation's and the tail's rows group alike without a common dense numbering."""
    snap, keep = source.snap, source.keep
    parts: list[np.ndarray] = []
    for f in fields:
        chunks = []
        for (c, _a), m in zip(source.pieces, keep, strict=True):
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
    source.order, source.starts, source.groups = order, starts, len(starts)
    sizes = np.diff(np.append(starts, len(order)))
    labels = [_labels(snap, f, period, c) for f, c in zip(fields, codes, strict=True)]
    keys = [tuple(lab[i] for lab in labels) for i in range(len(starts))]
    return sizes.tolist(), keys


def _labels(snap: Snap, f: str, period: str | None, codes: np.ndarray) -> list[Any]:
    """The value of field ``f`` behind each code (unit and area ids as ints)."""
    if f in _COLUMN:
        values = snap.tables[_COLUMN[f]][0]
        return [int(values[c]) if f in ("unit", "area") else values[c] for c in codes.tolist()]
    return [period_label(c, period or "month") for c in codes.tolist()]
