"""The flexible views' counts from the columnar copy: the generation's part kept, the tail's
counted per request.

A view's counts over the mapped generation (immutable) plus the in-memory tail are the sum of
the two parts' counts, because every key is a stable code (``cube_tally``). The generation's
part of each query is kept in a small per-process cache (``cube_memo.MEMO``) keyed by the generation
and everything the query depends on, so a repeated view counts only the tail.

Disclosure blocks depend only on how many respondents each *cell* holds (the hierarchy's
attributes: unit, month, area, sex, age band; ``disclosure.blocks`` with ``counts``), so they
are built from the generation's cell counts (kept) plus the tail's, and a group is checked
against them cell by cell (finer periods by cell and period). Nothing here weakens the rule:
the partition is the one the respondents give one by one, and a group is whole exactly when
every block it touches lies entirely inside it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics.indicators import cube_weighted, disclosure
from analytics.indicators.cube_memo import Memo
from analytics.indicators.cube_tally import (
    CELL,
    CHUNK,
    Columns,
    Sparse,
    _encode,
    cells,
    group_sum,
    lookup,
    period_label,
    tally,
)
from analytics.indicators.queries import Counts, Filters
from service.memory import give_back
from surveys.forms.stats import RESPONSE_KEY

_NAMES = {"unit": "unit", "area": "area", "age_band": "age", "sex": "sex"}


@dataclass
class Snap:
    """A consistent view of a campaign's copy: the mapped generation's rows, then the tail's.

    Both are prefixes of one sequence (the campaign's responses by id: a generation is the
    previous one plus the tail it absorbed), so "the first ``m`` rows" names the same rows
    before and after a new generation is mapped; ``lineage`` names the sequence."""

    keys: list[str]
    base_cols: Columns | None
    base_answers: Columns | None
    lineage: Hashable
    cols: Columns
    answers: Columns
    tables: dict[str, tuple[list[Any], dict[Any, int]]]
    memo: Memo

    @property
    def base_size(self) -> int:
        return len(self.base_cols["rid"]) if self.base_cols is not None else 0

    @property
    def total(self) -> int:
        return self.base_size + len(self.cols["rid"])

    def rid_at(self, i: int) -> int:
        g = self.base_size
        if i < g and self.base_cols is not None:
            return int(self.base_cols["rid"][i])
        return int(self.cols["rid"][i - g])

    def pieces(self, start: int, stop: int) -> list[tuple[Columns, Columns]]:
        """Rows ``start:stop`` of the sequence, as slices of the generation and the tail."""
        g = self.base_size
        out = []
        if start < g and self.base_cols is not None and self.base_answers is not None:
            e = min(stop, g)
            out.append(_cut(self.base_cols, self.base_answers, start, e))
        if stop > g:
            out.append(_cut(self.cols, self.answers, max(start, g) - g, stop - g))
        return out


def _cut(cols: Columns, answers: Columns, s: int, e: int) -> tuple[Columns, Columns]:
    return {k: v[s:e] for k, v in cols.items()}, {k: v[s:e] for k, v in answers.items()}


def _both(snap: Snap, key: tuple[Any, ...], count: Callable[[Columns, Columns], Sparse]) -> Sparse:
    """``count`` over every row: the part kept for the first ``m`` rows (the immutable
    generation and the tail seen by an earlier request) plus a count of the rows after it.
    An entry whose last row is not where it was (another copy) is counted again."""
    total = snap.total
    mkey = (snap.lineage, *key)
    entry = snap.memo.peek(mkey)
    start, found = 0, []
    if entry is not None:
        m, last, part = entry
        if m <= total and (m == 0 or snap.rid_at(m - 1) == last):
            start, found = m, [part]
            if m == total:
                return part
    found += [count(c, a) for c, a in snap.pieces(start, total)]
    nonempty = [f for f in found if len(f)]
    if not nonempty:
        part = found[0] if found else count(*_cut(snap.cols, snap.answers, 0, 0))
    else:
        part = nonempty[0]
        for more in nonempty[1:]:
            # A few new rows' counts go into the kept ones without sorting them again.
            part = part.add(more) if 8 * len(more) < len(part) else Sparse.merge([part, more])
    part = part.compact()
    snap.memo.put(mkey, (total, snap.rid_at(total - 1) if total else 0, part), part.nbytes)
    if total - start > CHUNK:
        give_back()  # a first count's chunk temporaries: hand their pages back now
    return part


def _cells(snap: Snap, include_flagged: bool, period: str | None) -> Sparse:
    """Respondents per cell of every row (kept, and extended by the newer rows)."""
    return _both(
        snap, ("cells", include_flagged, period), lambda c, _a: cells(c, include_flagged, period)
    )


def _rank(values: list[Any]) -> np.ndarray:
    """Per code, the rank of its value (codes follow arrival order; blocks need value order)."""
    lut = np.zeros(max(len(values), 1), np.int64)
    lut[sorted(range(len(values)), key=lambda i: values[i])] = np.arange(len(values))
    return lut


def _exact(
    snap: Snap,
    key: tuple[Any, ...],
    make: Callable[[], Any],
    size: Callable[[Any], int],
    tag: Hashable = None,
) -> Any:
    """``make()``, kept while the rows (and ``tag``: the weights) stay exactly the same; one
    entry per query, which newer rows replace instead of leaving a stale entry behind."""
    total = snap.total
    last = snap.rid_at(total - 1) if total else 0
    mkey = (snap.lineage, *key)
    entry = snap.memo.peek(mkey)
    if entry is not None and entry[:3] == (total, last, tag):
        return entry[3]
    value = make()
    snap.memo.put(mkey, (total, last, tag, value), size(value))
    if total > CHUNK:
        # Its temporaries (arrays of every cell, or of every cell and value) went to the
        # allocator's arenas: hand the pages back now, not at the trimmer's next round.
        give_back()
    return value


def cell_blocks(snap: Snap, coarse: Sparse, k: int, include_flagged: bool) -> np.ndarray:
    """The disclosure block of each cell of ``_cells(snap, include_flagged, None)``
    (``disclosure.blocks`` over the cells' counts), kept while the rows stay the same."""
    return _exact(
        snap, ("blocks", include_flagged, k), lambda: _cell_blocks(snap, coarse, k), _nbytes
    )


def _nbytes(a: Any) -> int:
    return int(a.nbytes) if a is not None else 0


def _cell_blocks(snap: Snap, coarse: Sparse, k: int) -> np.ndarray:
    if len(coarse) == 0:
        return np.zeros(0, np.int64)
    p, t = coarse.parts, snap.tables
    month = p["month"] - int(p["month"].min())
    columns = {"month": month} | {
        name: _rank(t[name][0])[p[name]] for name in ("unit", "area", "sex", "age")
    }
    levels = [columns[name] for name in disclosure.HIERARCHY]
    return disclosure.blocks(levels, k, counts=coarse.sums["n"])


def filter_values(filters: Filters) -> list[tuple[str, Any]]:
    """(column, value) of each filter that is set, named as the columns are."""
    pairs = (
        ("unit", filters.unit_id),
        ("area", filters.area_id),
        ("age", filters.age_band),
        ("sex", filters.sex),
    )
    return [(name, value) for name, value in pairs if value is not None]


def _filter_codes(snap: Snap, filters: Filters) -> list[tuple[str, int]]:
    return [(name, snap.tables[name][1].get(v, -1)) for name, v in filter_values(filters)]


def _label(snap: Snap, f: str, period: str | None, codes: np.ndarray) -> np.ndarray:
    if f in _NAMES:
        values = snap.tables[_NAMES[f]][0]
        out = np.array([values[c] for c in codes.tolist()], dtype=object)
        return out.astype(np.int64) if f in ("unit", "area") else out
    labels = {c: period_label(c, period or "month") for c in np.unique(codes).tolist()}
    return np.array([labels[c] for c in codes.tolist()], dtype=object)


def groups(
    snap: Snap,
    *,
    fields: Sequence[str],
    period: str | None,
    include_flagged: bool,
    filters: Filters,
    k: int,
) -> dict[tuple[Any, ...], tuple[int, bool]]:
    """See ``cube.groups``: computed over cells (and periods) instead of rows, and kept
    while the rows stay the same."""
    f = (filters.unit_id, filters.area_id, filters.age_band, filters.sex)
    key = ("groups", tuple(fields), period, include_flagged, f, k)
    found = _exact(
        snap,
        key,
        lambda: _groups(snap, fields, period, include_flagged, filters, k),
        lambda found: 200 * len(found),
    )
    return dict(found)  # the caller's own copy


def _groups(
    snap: Snap,
    fields: Sequence[str],
    period: str | None,
    include_flagged: bool,
    filters: Filters,
    k: int,
) -> dict[tuple[Any, ...], tuple[int, bool]]:
    fine_period = period if "period" in fields and period in ("week", "day") else None
    fine = _cells(snap, include_flagged, fine_period)
    if len(fine) == 0:
        return {}
    coarse = fine if fine_period is None else _cells(snap, include_flagged, None)
    block = cell_blocks(snap, coarse, k, include_flagged)
    fp = fine.parts
    fblock = block if fine_period is None else block[_coarse_index(coarse, fine)]
    kept = np.ones(len(fine), bool)
    for name, code in _filter_codes(snap, filters):
        kept &= fp[name] == code
    fparts = [fp[_NAMES[f]] if f in _NAMES else fp["p" if fine_period else "month"] for f in fields]
    if fparts:
        enc = _encode(fparts)
        gcode = (
            enc[0]
            if enc is not None
            else np.unique(np.stack(fparts), axis=1, return_inverse=True)[1].reshape(-1)
        )
    else:
        gcode = np.zeros(len(fine), np.int64)
    gx = np.where(kept, gcode, -1)
    # A block is cut when its cells fall in more than one group (or partly outside the query):
    # when any of its cells' groups differs from one of them (no sort of the cells needed).
    some = np.zeros(int(block.max()) + 1 if len(block) else 0, np.int64)
    some[fblock] = gx
    cut = np.bincount(fblock, weights=gx != some[fblock], minlength=len(some)) > 0
    bad = kept & cut[fblock]
    n = fine.sums["n"]
    keys_parts, (members, nbad) = group_sum(
        [p[kept] for p in fparts] or [np.zeros(int(kept.sum()), np.int64)],
        [n[kept], bad[kept].astype(np.int64)],
    )
    if not fields:
        return {(): (int(members[0]), bool(nbad[0] == 0))} if len(members) else {}
    labels = [_label(snap, f, period, kp) for f, kp in zip(fields, keys_parts, strict=True)]
    out: dict[tuple[Any, ...], tuple[int, bool]] = {}
    for i in np.flatnonzero(members > 0).tolist():
        key = tuple(lab[i].item() if hasattr(lab[i], "item") else lab[i] for lab in labels)
        out[key] = (int(members[i]), bool(nbad[i] == 0))
    return out


def _coarse_index(coarse: Sparse, fine: Sparse) -> np.ndarray:
    """Index into ``coarse`` of each entry of ``fine`` (the same rows' cells by period).

    Both are sorted by their parts, the cell's first, and hold the same cells, so an entry's
    cell is the number of cell changes before it; ``lookup`` (a search) where that does not
    hold."""
    fp = fine.parts
    new = np.zeros(len(fine), bool)
    if len(fine):
        new[0] = True
    for name in CELL:
        new[1:] |= fp[name][1:] != fp[name][:-1]
    if int(np.count_nonzero(new)) != len(coarse):
        return lookup(coarse, fp)
    index = np.cumsum(new) - 1
    firsts = np.flatnonzero(new)
    if all(np.array_equal(fp[name][firsts], coarse.parts[name]) for name in CELL):
        return index
    return lookup(coarse, fp)


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
        h.update(b"|")
    return h.hexdigest()


def counts(
    snap: Snap,
    *,
    fields: Sequence[str],
    period: str | None,
    include_flagged: bool,
    filters: Filters,
    weights: dict[tuple[int, str, str], float] | None,
    k: int,
) -> Counts:
    """See ``cube.counts``: the generation's part kept per query, the tail's counted."""
    t = snap.tables
    weight: Callable[[Columns, slice], np.ndarray] | None = None
    summary = None
    wkey: str | None = None
    if weights is not None:
        lut = np.ones(
            (max(len(t["area"][0]), 1), max(len(t["age"][0]), 1), max(len(t["sex"][0]), 1))
        )
        for (a, band, x), wt in weights.items():
            ia, ig, ix = t["area"][1].get(a), t["age"][1].get(band), t["sex"][1].get(x)
            if ia is not None and ig is not None and ix is not None:
                lut[ia, ig, ix] = wt
        if k:
            coarse = _cells(snap, include_flagged, None)
            block = cell_blocks(snap, coarse, k, include_flagged)
            cp, cn = coarse.parts, coarse.sums["n"].astype(float)
            cw = lut[cp["area"], cp["age"], cp["sex"]]
            with np.errstate(invalid="ignore", divide="ignore"):
                per_cell = (np.bincount(block, weights=cn * cw) / np.bincount(block, weights=cn))[
                    block
                ]
            summary = _summary(per_cell, coarse.sums["n"])
            wkey = _digest(per_cell, *(cp[c] for c in CELL))
            # The same rows and weights give the same sums: a repeated view is a look-up.
            f = (filters.unit_id, filters.area_id, filters.age_band, filters.sex)
            by_cell = _exact(
                snap,
                ("weighted", tuple(fields), period, include_flagged, f),
                lambda: _by_cells(snap, coarse, per_cell, fields, period, include_flagged, filters),
                _nbytes,
                tag=wkey,
            )
            if by_cell is not None:
                return _to_counts(snap, by_cell, fields, period, summary)
            weight = _cell_weight(coarse, per_cell)
        else:
            wkey = _digest(lut)

            def weight(c: Columns, sl: slice) -> np.ndarray:
                return lut[
                    np.asarray(c["area"][sl]), np.asarray(c["age"][sl]), np.asarray(c["sex"][sl])
                ]

    codes = _filter_codes(snap, filters)

    def keep(c: Columns, sl: slice) -> np.ndarray:
        m = np.ones(sl.stop - sl.start, bool) if include_flagged else ~np.asarray(c["flagged"][sl])
        for name, code in codes:
            m &= np.asarray(c[name][sl]) == code
        return m

    key = ("counts", tuple(fields), period, include_flagged, tuple(codes), wkey)
    found = _both(snap, key, lambda c, a: tally(c, a, snap.keys, fields, period, keep, weight))
    return _to_counts(snap, found, fields, period, summary)


def _by_cells(
    snap: Snap,
    coarse: Sparse,
    per_cell: np.ndarray,
    fields: Sequence[str],
    period: str | None,
    include_flagged: bool,
    filters: Filters,
) -> Sparse | None:
    """Weighted counts from counts per cell (``cube_weighted``); None where that does not
    apply (weeks and days are finer than a cell) or would not pay."""
    if "period" in fields and period in ("week", "day"):
        return None
    base = cube_weighted.generation_values(snap, include_flagged)
    if base is None and snap.base_size > 0:
        return None
    sizes = [len(snap.tables[k][0]) for k in snap.keys]
    tail = cube_weighted.cell_values(snap.cols, snap.answers, snap.keys, sizes, include_flagged)
    if tail is None:
        return None
    codes = _filter_codes(snap, filters)
    found = [
        cube_weighted.weighted(cv, coarse, per_cell, fields, codes)
        for cv in (base, tail)
        if cv is not None
    ]
    nonempty = [f for f in found if len(f)]
    if len(nonempty) > 1:
        return Sparse.merge(nonempty)
    return nonempty[0] if nonempty else found[0]


def _summary(per_cell: np.ndarray, n: np.ndarray) -> dict[str, Any]:
    nf = n.astype(float)
    total = int(n.sum())
    s1 = float((nf * per_cell).sum())
    s2 = float((nf * per_cell * per_cell).sum())
    return {
        "n": total,
        "n_eff": s1 * s1 / s2 if total else 0.0,
        "weight_min": float(per_cell.min()) if total else None,
        "weight_max": float(per_cell.max()) if total else None,
    }


def _cell_weight(coarse: Sparse, per_cell: np.ndarray) -> Callable[[Columns, slice], np.ndarray]:
    """Each row's weight from its cell's (0 for a row in no cell: one the query leaves out)."""
    table = np.append(per_cell, 0.0)

    def weight(c: Columns, sl: slice) -> np.ndarray:
        day = np.asarray(c["day"][sl])
        rows = {name: np.asarray(c[name][sl]) for name in CELL[:-1]}
        rows["month"] = day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        return table[lookup(coarse, rows)]

    return weight


def _to_counts(
    snap: Snap, s: Sparse, fields: Sequence[str], period: str | None, summary: dict[str, Any] | None
) -> Counts:
    q = s.parts["q"]
    v = s.parts["v"]
    names = [RESPONSE_KEY, *snap.keys]
    question = np.array(names, dtype=object)[q] if len(q) else np.zeros(0, dtype=object)
    value = np.zeros(len(q))
    for j, key in enumerate(snap.keys, start=1):
        sel = q == j
        if sel.any():
            value[sel] = np.asarray(snap.tables[key][0], float)[v[sel]]
    n = s.sums["n"].astype(np.int64)
    wn = s.sums.get("wn", n.astype(float))
    return Counts(
        keys={f: _label(snap, f, period, s.parts[f]) for f in fields},
        question=question,
        value=value,
        n=n,
        source="columns",
        wn=np.asarray(wn, float),
        w2n=np.asarray(s.sums.get("w2n", n.astype(float)), float),
        w4n=np.asarray(s.sums.get("w4n", n.astype(float)), float),
        weights=summary,
    )
