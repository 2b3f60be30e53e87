"""Per-respondent answers of the published groups, for statistics that need more than counts.

Counts per scale point give every first moment and each question's variance, but not how one
respondent's answers move together (Cronbach's alpha, correlations between dimensions). Those
are read from the columnar copy (``analytics.indicators.cube``) of the kept respondents, and
only for the groups the indicators view would publish: whole disclosure blocks of at least
``k`` respondents (``cube.published``, the rule behind ``table.suppression``).

The answers stay codes and are handed out a chunk of respondents at a time (``Answers.chunks``),
so a statistic accumulates sums over chunks and its memory is bounded by a chunk, not by the
group: at ten million respondents a float64 copy of one question's column is 80 MB, and the
district-wide reliability peaked at a gigabyte over the worker's size when it held them. The
columns are read where they are (the mapped generation and the tail, ``cube_query.Snap``),
never copied whole; the single group of a district-wide figure is read in place, chunk by
chunk, with no sort and no gather. Groups of a breakdown are read in group order: each
question's codes are gathered once in that order (int16, a quarter of a float64 column).
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


# Respondents a chunk of ``Answers.chunks`` holds at most. A statistic's temporaries are a few
# float64 arrays of a chunk: about 15 MB at this size for reliability over five questions (68
# MB at a million), and chunks that fit the caches were faster too (bench/reliability_memory.py).
CHUNK = 100_000


@dataclass
class Answers:
    """The kept respondents of one group; their answers are read by ``chunks``."""

    key: tuple[Any, ...]
    n: int  # respondents of the group
    published: bool
    codes: _Codes | None = None  # None: the group may not be published (no answers)
    start: int = 0
    stop: int = 0

    def scale(self, key: str) -> np.ndarray:
        """The value behind each answer code of question ``key`` (code -1: not answered)."""
        if self.codes is None:
            raise KeyError(key)
        return np.asarray(self.codes.snap.tables[key][0], dtype=float)

    def chunks(self, keys: Sequence[str], size: int = CHUNK) -> Iterator[dict[str, np.ndarray]]:
        """The group's answer codes of questions ``keys`` (-1: not answered), at most ``size``
        respondents at a time; every respondent is in exactly one chunk, and within a chunk
        the arrays of all ``keys`` are aligned row by row."""
        if self.codes is None:
            return iter(())
        return self.codes.chunks(list(keys), self.start, self.stop, max(1, size))


class _Codes:
    """Every question's answer codes of the query's rows: in place when the rows form one
    group (``order`` None), else ordered by group (each group one slice) and gathered on a
    question's first read."""

    def __init__(self, snap: Snap, keep: list[np.ndarray | None], order: np.ndarray | None) -> None:
        self.snap, self.keep, self.order = snap, keep, order
        self.pieces = snap.pieces(0, snap.total)
        self.codes: dict[str, np.ndarray] = {}

    def chunks(
        self, keys: list[str], start: int, stop: int, size: int
    ) -> Iterator[dict[str, np.ndarray]]:
        for key in keys:
            if key not in self.snap.keys:
                raise KeyError(key)
        if self.order is None:
            # The one group is every kept row: slices of the columns (views), then the kept
            # rows of each slice; never a copy of a whole column.
            for (c, a), m in zip(self.pieces, self.keep, strict=True):
                rows = len(c["rid"])
                for s in range(0, rows, size):
                    e = min(s + size, rows)
                    mine = None if m is None else m[s:e]
                    if mine is not None and not mine.any():
                        continue
                    yield {k: a[k][s:e] if mine is None else a[k][s:e][mine] for k in keys}
            return
        for s in range(start, stop, size):
            e = min(s + size, stop)
            yield {k: self._gathered(k)[s:e] for k in keys}

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
    if fields:
        order, starts, sizes, keys = _groups(snap, keep, fields, period)
    else:
        order, starts, sizes, keys = None, [0], [kept], [()]
    codes = _Codes(snap, keep, order)
    out: list[Answers] = []
    for tkey, start, n in zip(keys, starts, sizes, strict=True):
        ok = tkey in shown and n >= k
        out.append(
            Answers(
                key=tkey,
                n=int(n),
                published=ok,
                codes=codes if ok else None,
                start=start,
                stop=start + n,
            )
        )
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
