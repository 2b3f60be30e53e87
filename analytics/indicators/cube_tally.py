"""Counting the columnar copy in parts that add up: the generation's part once, the tail's part
on every request.

Every count here is keyed by *stable* codes: the ``_Table`` codes of unit, area, age band, sex
and answer value (never changed once given, and the tail continues the generation's tables)
and absolute period numbers (days and Monday-based weeks since 1970-01-01, months since
1970-01). So the sparse counts of two disjoint sets of rows (the immutable generation
and the newer tail) are merged by adding the counts of equal keys (``group_sum``), and the
generation's part can be kept between requests. Rows are counted in chunks so the temporaries
stay a few megabytes whatever the campaign's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Rows per chunk. A first count at ten million rows holds some ten chunk-sized int64
# temporaries at once (80 MB a million rows); half a million is as fast (measured on the
# weekly weighted dashboard) and peaks 70 MB lower.
CHUNK = 500_000
# The cell of a respondent: what disclosure blocks are built from (the hierarchy's attributes).
CELL = ("unit", "area", "sex", "age", "month")
_LIMIT = 1 << 62


def months(day: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of day numbers since 1970-01-01."""
    return day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def period_code(day: np.ndarray, period: str) -> np.ndarray:
    """Absolute period number per row (days and weeks since 1970, months since 1970-01)."""
    if period == "week":
        # Weeks start on Monday; 1970-01-01 was a Thursday, so week w starts on day 7w - 3.
        # Numbered weeks (not their Mondays' days) keep the codes' range small for bincount.
        return (day.astype(np.int64) + 3) // 7
    if period == "month":
        return months(day)
    return day.astype(np.int64)


def period_label(code: int, period: str) -> str:
    """The label of an absolute period number (see ``period_code``)."""
    if period == "month":
        return str(np.datetime_as_string(np.datetime64(int(code), "M")))
    day = 7 * int(code) - 3 if period == "week" else int(code)
    return date.fromordinal(EPOCH_ORDINAL + day).isoformat()


def chunks(n: int) -> Iterator[slice]:
    size = CHUNK
    for s in range(0, n, size):
        yield slice(s, min(n, s + size))


def _encode(parts: Sequence[np.ndarray]) -> tuple[np.ndarray, list[int], list[int], int] | None:
    """A mixed-radix number per row over the parts' local ranges (None if it would overflow)."""
    n = len(parts[0])
    los, dims, total = [], [], 1
    for p in parts:
        lo, hi = (int(p.min()), int(p.max())) if n else (0, 0)
        los.append(lo)
        dims.append(hi - lo + 1)
        total *= hi - lo + 1
    if total >= _LIMIT:
        return None
    return combine(parts, los, dims), los, dims, total


def combine(parts: Sequence[np.ndarray], los: Sequence[int], dims: Sequence[int]) -> np.ndarray:
    """One int64 number per row for its parts, each shifted by ``lo`` and ``dims`` wide
    (``_decode`` splits it again)."""
    key = np.zeros(len(parts[0]), np.int64)
    for p, lo, d in zip(parts, los, dims, strict=True):
        key *= d
        key += p
        key -= lo
    return key


def _decode(
    key: np.ndarray, los: list[int], dims: list[int], narrow: bool = False
) -> list[np.ndarray]:
    """The parts of ``combine``'s numbers; with ``narrow`` each in the smallest integer type
    that holds it as soon as it is split off (``small``): a merge of a million and a half
    cells into seven parts held 60 MB of int64 before they were compacted."""
    out = []
    rest = key
    for lo, d in zip(reversed(los), reversed(dims), strict=True):
        rest, code = np.divmod(rest, d)
        code += lo
        out.append(small(code) if narrow else code)
    return out[::-1]


def group_sum(
    parts: Sequence[np.ndarray],
    sums: Sequence[np.ndarray],
    *,
    count: bool = False,
    narrow: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Rows with equal ``parts`` merged, their ``sums`` added; sorted by the parts in order.
    ``count`` puts the number of rows of each first among the sums (cheaper than a sum of
    ones); ``narrow`` gives the parts in the smallest integer types that hold them (``small``)
    instead of int64."""
    n = len(parts[0])
    if n == 0:
        zero = [np.zeros(0, np.int64)] if count else []
        return [np.zeros(0, np.int64) for _ in parts], zero + [np.asarray(s)[:0] for s in sums]
    enc = _encode(parts)
    if enc is not None:
        key, los, dims, total = enc
        if total <= 4 * n + (1 << 20):
            rows = np.bincount(key, minlength=total)
            present = np.flatnonzero(rows)
            out = [_cast(np.bincount(key, weights=s, minlength=total)[present], s) for s in sums]
            if count:
                out.insert(0, rows[present])
            del rows, key
            return _decode(present, los, dims, narrow), out
        uniq, inv = np.unique(key, return_inverse=True)
        inv = inv.reshape(-1)
        out = [_cast(np.bincount(inv, weights=s, minlength=len(uniq)), s) for s in sums]
        if count:
            out.insert(0, np.bincount(inv, minlength=len(uniq)))
        del inv, key
        return _decode(uniq, los, dims, narrow), out
    order = np.lexsort([np.asarray(p) for p in reversed(parts)])
    sp = [np.asarray(p)[order] for p in parts]
    new = np.zeros(n, bool)
    new[0] = True
    for p in sp:
        new[1:] |= p[1:] != p[:-1]
    starts = np.flatnonzero(new)
    out = [np.add.reduceat(np.asarray(s)[order], starts) for s in sums]
    if count:
        out.insert(0, np.diff(np.append(starts, n)))
    cast = small if narrow else (lambda a: a.astype(np.int64))
    return [cast(p[starts]) for p in sp], out


def _cast(x: np.ndarray, like: np.ndarray) -> np.ndarray:
    # bincount adds in float64: integer totals below 2**53 come back exact.
    return np.rint(x).astype(np.int64) if np.issubdtype(like.dtype, np.integer) else x


@dataclass
class Sparse:
    """Counts keyed by stable codes: ``parts[name][i]`` and ``sums[name][i]`` for row i."""

    parts: dict[str, np.ndarray]
    sums: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.sums.values())))

    @staticmethod
    def merge(items: Sequence[Sparse]) -> Sparse:
        """The counts of the union of disjoint row sets (order of the parts kept)."""
        first = items[0]
        names, sums = list(first.parts), list(first.sums)
        parts, tot = group_sum(
            [np.concatenate([it.parts[p] for it in items]) for p in names],
            [np.concatenate([it.sums[s] for it in items]) for s in sums],
            narrow=True,
        )
        return Sparse(dict(zip(names, parts, strict=True)), dict(zip(sums, tot, strict=True)))

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (*self.parts.values(), *self.sums.values()))

    def compact(self) -> Sparse:
        """The same counts in the smallest integer types that hold them (what is kept between
        requests: the codes fit in 16 bits and a count in 32 where the campaign is smaller
        than 2**31 rows). Weighted sums stay float64. Every consumer widens to int64 before
        doing arithmetic that could overflow (``_encode``, ``group_sum``, ``lookup``)."""
        return Sparse(
            {k: small(v) for k, v in self.parts.items()},
            {k: small(v) if v.dtype.kind in "iu" else v for k, v in self.sums.items()},
        )

    def add(self, new: Sparse) -> Sparse:
        """``merge([self, new])`` for a small ``new``, without sorting ``self``: entries of
        ``new`` already in ``self`` (both are sorted by their parts) add to them, the others
        are inserted where they belong. Sums are added in the same order as ``merge`` (this
        one's, then the new one's), so the results are the same numbers."""
        names = list(self.parts)
        if len(new) == 0:
            return self
        if len(self) == 0:
            return new
        both = [
            (
                min(int(self.parts[p].min()), int(new.parts[p].min())),
                max(int(self.parts[p].max()), int(new.parts[p].max())),
            )
            for p in names
        ]
        total = 1
        for lo, hi in both:
            total *= hi - lo + 1
        if total >= _LIMIT:
            return Sparse.merge([self, new])
        mine = np.zeros(len(self), np.int64)
        theirs = np.zeros(len(new), np.int64)
        for p, (lo, hi) in zip(names, both, strict=True):
            mine *= hi - lo + 1
            mine += self.parts[p]
            mine -= lo
            theirs *= hi - lo + 1
            theirs += new.parts[p]
            theirs -= lo
        if not (np.all(mine[1:] > mine[:-1]) and np.all(theirs[1:] > theirs[:-1])):
            return Sparse.merge([self, new])  # not sorted as counted: never expected
        pos = np.searchsorted(mine, theirs)
        hit = pos < len(mine)
        hit[hit] = mine[pos[hit]] == theirs[hit]
        sums = {}
        for k, v in self.sums.items():
            out = v.astype(np.result_type(v.dtype, new.sums[k].dtype, np.int64))
            out[pos[hit]] += new.sums[k][hit]
            sums[k] = out
        if hit.all():
            return Sparse(dict(self.parts), sums)
        at, miss = pos[~hit], ~hit
        parts = {
            p: np.insert(self.parts[p].astype(np.int64), at, new.parts[p][miss]) for p in names
        }
        return Sparse(parts, {k: np.insert(v, at, new.sums[k][miss]) for k, v in sums.items()})


def small(a: np.ndarray) -> np.ndarray:
    """Integers in int16 or int32 where every value fits (int64 otherwise)."""
    if a.dtype.kind not in "iu" or len(a) == 0:
        return a
    lo, hi = int(a.min()), int(a.max())
    for t in (np.int16, np.int32):
        info = np.iinfo(t)
        if info.min <= lo and hi <= info.max:
            return a if a.dtype == t else a.astype(t)
    return a


Columns = Mapping[str, np.ndarray]
# Chunks' counts are merged once they hold this many entries, so the parts waiting to be
# merged stay a few tens of megabytes (a chunk can have nearly as many cells as rows). The
# cells by week of ten million rows: 1,000,000 peaks at 50 MB in 1.41 s, 1,500,000 at 77 MB
# in 1.32 s, 600,000 at 50 MB in 1.77 s (the first count; later ones count the tail only).
_FOLD = 1_000_000


def _fold(found: list[Sparse]) -> None:
    if len(found) > 1 and sum(len(f) for f in found) > _FOLD:
        # Compacted like the chunks' counts: merged with them, int64 parts would widen every
        # part of the next merge to int64 (at ten million rows with weeks, 75 MB of them).
        found[:] = [Sparse.merge(found).compact()]


def cells(cols: Columns, include_flagged: bool, period: str | None) -> Sparse:
    """Respondents per cell (and per period number when ``period`` is week or day) among the
    rows (those with ``flagged`` false unless ``include_flagged``)."""
    n = len(cols["rid"])
    found = []
    for sl in chunks(n):
        sel = None if include_flagged else ~np.asarray(cols["flagged"][sl])
        parts = [np.asarray(cols[name][sl]) for name in CELL[:-1]]
        day = np.asarray(cols["day"][sl])
        parts.append(months(day))
        if period in ("week", "day"):
            parts.append(period_code(day, period))
        if sel is not None:
            parts = [p[sel] for p in parts]
        names = [*CELL, "p"][: len(parts)]
        ps, (cnt,) = group_sum(parts, [], count=True, narrow=True)
        del parts
        # Compact while waiting to be merged: a chunk can have nearly as many cells as rows.
        found.append(Sparse(dict(zip(names, ps, strict=True)), {"n": cnt}).compact())
        _fold(found)
    if not found:
        names = [*CELL, "p"][: 6 if period in ("week", "day") else 5]
        return Sparse({k: np.zeros(0, np.int64) for k in names}, {"n": np.zeros(0, np.int64)})
    return found[0] if len(found) == 1 else Sparse.merge(found)


_FIELD_COLUMN = {"unit": "unit", "area": "area", "age_band": "age", "sex": "sex"}


def tally(
    cols: Columns,
    answers: Columns,
    keys: Sequence[str],
    fields: Sequence[str],
    period: str | None,
    keep: Callable[[Columns, slice], np.ndarray],
    weight: Callable[[Columns, slice], np.ndarray] | None,
) -> Sparse:
    """Respondents (question 0) and answers (question j+1 for ``keys[j]``, by value code) per
    group of ``fields``, among the rows ``keep`` selects, weighted by ``weight`` if given."""
    names = ["q", *fields, "v"]
    sums = ["n"] if weight is None else ["n", "wn", "w2n", "w4n"]
    found: list[Sparse] = []
    for sl in chunks(len(cols["rid"])):
        kept = keep(cols, sl)
        fparts = []
        for f in fields:
            if f in _FIELD_COLUMN:
                fparts.append(np.asarray(cols[_FIELD_COLUMN[f]][sl]))
            else:
                fparts.append(period_code(np.asarray(cols["day"][sl]), period or "month"))
        w = weight(cols, sl) if weight is not None else None
        # The group of each row once per chunk; then one bincount per question over
        # group x value (what the counts were before, minus the int64 copies of columns).
        enc = _encode(fparts) if fparts else None
        if fparts and enc is None:
            found.append(_slow(cols, answers, keys, sl, kept, fparts, w, names, sums))
            continue
        gkey, glos, gdims, gtotal = enc if enc is not None else (None, [], [], 1)
        for j in range(len(keys) + 1):
            vcode = None if j == 0 else np.asarray(answers[keys[j - 1]][sl])
            sel = kept if vcode is None else kept & (vcode >= 0)
            m = int(np.count_nonzero(sel))
            if m == 0:
                continue
            v = np.zeros(m, np.int64) if vcode is None else vcode[sel].astype(np.int64)
            nv = int(v.max()) + 1
            combo = v if gkey is None else gkey[sel] * nv + v
            vals = [np.ones(m, np.int64)]
            if w is not None:
                ws = w[sel]
                w2 = ws * ws
                vals += [ws, w2, w2 * w2]
            (present,), ts = (
                group_sum([combo], vals)
                if gtotal * nv > 4 * m + (1 << 20)
                else (_bins(combo, gtotal * nv, vals))
            )
            g, vv = np.divmod(present, nv)
            ps = [np.full(len(g), j, np.int64), *_decode(g, glos, gdims), vv]
            # Compact while waiting to be merged, like the cells' counts.
            found.append(
                Sparse(
                    dict(zip(names, ps, strict=True)), dict(zip(sums, ts, strict=True))
                ).compact()
            )
        _fold(found)
    if not found:
        empty = {k: np.zeros(0, np.int64) for k in names}
        return Sparse(empty, {s: np.zeros(0, np.int64 if s == "n" else float) for s in sums})
    return found[0] if len(found) == 1 else Sparse.merge(found)


def _bins(
    combo: np.ndarray, size: int, vals: list[np.ndarray]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``group_sum`` of one part with a small range: counted in place, no sorting."""
    n = np.bincount(combo, minlength=size)
    present = np.flatnonzero(n)
    out = [n[present]]
    out += [np.bincount(combo, weights=x, minlength=size)[present] for x in vals[1:]]
    return [present], out


def _slow(
    cols: Columns,
    answers: Columns,
    keys: Sequence[str],
    sl: slice,
    kept: np.ndarray,
    fparts: list[np.ndarray],
    w: np.ndarray | None,
    names: list[str],
    sums: list[str],
) -> Sparse:
    """``tally``'s chunk when the groups' codes span too wide a range for one number."""
    found = []
    for j in range(len(keys) + 1):
        vcode = None if j == 0 else np.asarray(answers[keys[j - 1]][sl])
        sel = kept if vcode is None else kept & (vcode >= 0)
        m = int(np.count_nonzero(sel))
        parts = [np.full(m, j, np.int64), *(p[sel] for p in fparts)]
        parts.append(np.zeros(m, np.int64) if vcode is None else vcode[sel])
        vals = [np.ones(m, np.int64)]
        if w is not None:
            ws = w[sel]
            vals += [ws, ws**2, ws**4]
        ps, ts = group_sum(parts, vals)
        found.append(Sparse(dict(zip(names, ps, strict=True)), dict(zip(sums, ts, strict=True))))
    return Sparse.merge(found)


def lookup(coarse: Sparse, fine: Mapping[str, np.ndarray]) -> np.ndarray:
    """Index into ``coarse`` (sorted cells) of each entry of ``fine``'s cell parts (-1: none)."""
    cparts = [coarse.parts[c] for c in CELL]
    fparts = [np.asarray(fine[c], np.int64) for c in CELL]
    los = [int(c.min()) for c in cparts]
    his = [int(c.max()) for c in cparts]
    inside = np.ones(len(fparts[0]), bool)
    for f, lo, hi in zip(fparts, los, his, strict=True):
        inside &= (f >= lo) & (f <= hi)
    enc = _encode(cparts)
    if enc is None:  # ranges too wide for one number: match through a dictionary
        index = {t: i for i, t in enumerate(zip(*(c.tolist() for c in cparts), strict=True))}
        rows = zip(*(f.tolist() for f in fparts), strict=True)
        return np.fromiter((index.get(t, -1) for t in rows), np.int64, len(fparts[0]))
    ckey, _los, dims, _total = enc
    fkey = np.zeros(len(fparts[0]), np.int64)
    for f, lo, d in zip(fparts, los, dims, strict=True):
        fkey = fkey * d + np.clip(f - lo, 0, d - 1)
    pos = np.minimum(np.searchsorted(ckey, fkey), max(len(ckey) - 1, 0))
    found = inside & (ckey[pos] == fkey) if len(ckey) else np.zeros(len(fkey), bool)
    return np.where(found, pos, -1)
