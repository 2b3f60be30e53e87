"""Weighted counts from answer counts per cell, so a weighted view does not pass over every row.

With disclosure blocks (``k``), a respondent's weight is the mean weight of its block, and a
block is a union of cells (unit, month, area, sex, age band: ``cube_query.cell_blocks``), so
the weight is a function of the respondent's cell. Any grouping by unit, area, age band, sex
and month, under any filter on them, is then a sum over cells: ``sum of w`` over a group and
answer value is ``sum over cells of n(cell, value) * w(cell)``. The counts per cell and value
do not depend on the weights, so the generation's are kept (and extended when a newer
generation absorbs the tail); each request recounts only the tail's and combines both with
the weights of the moment. Weeks and days are finer than a cell: those views count rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from analytics.indicators.cube_tally import (
    CELL,
    Columns,
    Sparse,
    _decode,
    _encode,
    cells,
    chunks,
    group_sum,
    lookup,
    months,
    small,
)

if TYPE_CHECKING:
    from analytics.indicators.cube_query import Snap

# Beyond this many (cell, answer value) slots the dense count would cost more memory than the
# row pass it saves; such campaigns count rows.
MAX_SLOTS = 1 << 24
_FIELD = {"unit": "unit", "area": "area", "age_band": "age", "sex": "sex", "period": "month"}


@dataclass
class CellValues:
    """Respondents (q 0) and answers (q j+1 for key j, by value code) per cell of some rows.

    Kept compact (about 4 bytes an entry instead of 12): entries are sorted by cell, then by
    slot (``off[q] + v``), so a cell is given by how many entries each cell has and (q, v) by
    the slot; the per-entry arrays are rebuilt while a request combines them."""

    cells: Sparse  # the rows' cells (``cube_tally.cells``)
    per_cell: np.ndarray  # entries of each cell
    slot: np.ndarray  # per entry: off[q] + v
    n: np.ndarray  # per entry: respondents (the smallest integer type that holds them)
    off: np.ndarray  # first slot of each question (0: respondents)

    @property
    def cell(self) -> np.ndarray:
        """Per entry: index into ``cells``."""
        return np.repeat(np.arange(len(self.per_cell), dtype=np.int32), self.per_cell)

    @property
    def q(self) -> np.ndarray:
        return self._of_slot()[0][self.slot]

    @property
    def v(self) -> np.ndarray:
        return self._of_slot()[1][self.slot]

    def _of_slot(self) -> tuple[np.ndarray, np.ndarray]:
        """(q, v) of every slot: a look-up per entry instead of a search."""
        every = np.arange(int(self.off[-1]), dtype=np.int64)
        q = np.searchsorted(self.off, every, side="right") - 1
        return q.astype(np.int16), (every - self.off[q]).astype(np.int16)

    @property
    def nbytes(self) -> int:
        arrays = (self.per_cell, self.slot, self.n, self.off)
        return self.cells.nbytes + sum(a.nbytes for a in arrays)


def _offsets(sizes: Sequence[int]) -> np.ndarray:
    return np.concatenate(([0, 1], 1 + np.cumsum(np.asarray(sizes, np.int64)))).astype(np.int64)


def _pack(
    own: Sparse, cell: np.ndarray, slot: np.ndarray, n: np.ndarray, off: np.ndarray
) -> CellValues:
    """Entries sorted by (cell, slot) as a ``CellValues``."""
    per_cell = np.bincount(cell, minlength=len(own)).astype(np.int32)
    return CellValues(own.compact(), per_cell, small(slot), _unsigned(n), off)


def _unsigned(n: np.ndarray) -> np.ndarray:
    """Counts (never negative) in uint8, uint16 or uint32 where they fit."""
    top = int(n.max()) if len(n) else 0
    for t in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(t).max:
            return n.astype(t)
    return n.astype(np.int64)


def cell_values(
    cols: Columns, answers: Columns, keys: Sequence[str], sizes: Sequence[int], flagged: bool
) -> CellValues | None:
    """The counts per cell and value of the rows (None: too many slots to count densely)."""
    own = cells(cols, flagged, None)
    off = _offsets(sizes)
    width = int(off[-1])
    slots = len(own) * width
    if slots > MAX_SLOTS:
        return None
    # Added to by the distinct slots of each chunk: a bincount's array of every slot beside
    # this one doubled the peak (at ten million rows 39 MB each in int64), and np.add.at took
    # twice as long.
    dense = np.zeros(slots, np.int32 if len(cols["rid"]) < 2**31 else np.int64)
    for sl in chunks(len(cols["rid"])):
        sel = None if flagged else ~np.asarray(cols["flagged"][sl])
        rows = {name: np.asarray(cols[name][sl]) for name in CELL[:-1]}
        rows["month"] = months(np.asarray(cols["day"][sl]))
        if sel is not None:
            rows = {k: v[sel] for k, v in rows.items()}
        at = lookup(own, rows) * width
        del rows
        _add(dense, at)
        for j, key in enumerate(keys, start=1):
            v = np.asarray(answers[key][sl])
            if sel is not None:
                v = v[sel]
            ok = v >= 0
            _add(dense, at[ok] + off[j] + v[ok])
    nz = np.flatnonzero(dense)
    n = dense[nz]
    del dense
    if slots < 2**31:  # the entries' arrays in half the bytes (2.6 million at ten million rows)
        nz = nz.astype(np.int32)
    cell, slot = np.divmod(nz, np.asarray(width, nz.dtype))
    del nz
    return _pack(own, cell, slot, n, off)


def _add(dense: np.ndarray, at: np.ndarray) -> None:
    """One more for each of ``at`` (slots, with repeats) in ``dense``."""
    slot, times = np.unique(at, return_counts=True)
    dense[slot] += times.astype(dense.dtype)


def _merge(a: CellValues, b: CellValues) -> CellValues:
    own = Sparse.merge([a.cells, b.cells])
    off = a.off if len(a.off) >= len(b.off) else b.off  # the tables only grow: the newer one
    cell = np.concatenate([lookup(own, a.cells.parts)[a.cell], lookup(own, b.cells.parts)[b.cell]])
    (c, q, v), (n,) = group_sum(
        [cell, np.concatenate([a.q, b.q]), np.concatenate([a.v, b.v])],
        [np.concatenate([a.n.astype(np.int64), b.n.astype(np.int64)])],
    )
    return _pack(own, c, off[q] + v, n, off)


def generation_values(snap: Snap, flagged: bool) -> CellValues | None:
    """The generation's ``cell_values``, kept; a newer generation extends the kept one."""
    size = snap.base_size
    if snap.base_cols is None or snap.base_answers is None or size == 0:
        return None
    sizes = [len(snap.tables[k][0]) for k in snap.keys]
    key = (snap.lineage, "cell values", flagged)
    entry = snap.memo.peek(key)
    start, kept = 0, None
    if entry is not None and 0 < entry[0] <= size and snap.rid_at(entry[0] - 1) == entry[1]:
        if entry[0] == size or entry[2] is None:
            return entry[2] if entry[0] == size else None
        start, kept = entry[0], entry[2]
    ((c, a),) = snap.pieces(start, size)
    new = cell_values(c, a, snap.keys, sizes, flagged)
    found = None if new is None else new if kept is None else _merge(kept, new)
    nb = found.nbytes if found is not None else 0
    snap.memo.put(key, (size, snap.rid_at(size - 1) if size else 0, found), nb)
    return found


def weighted(
    cv: CellValues,
    merged: Sparse,
    per_cell: np.ndarray,
    fields: Sequence[str],
    codes: Sequence[tuple[str, int]],
) -> Sparse:
    """Counts and weighted sums per (question, ``fields``, value), like ``cube_tally.tally``
    with each row weighted by its cell's ``per_cell`` weight (cells of ``merged``)."""
    p = cv.cells.parts
    w_cell = per_cell[lookup(merged, p)]
    kept = np.ones(len(cv.cells), bool)
    for name, code in codes:
        kept &= p[name] == code
    fparts = [p[_FIELD[f]] for f in fields]
    enc = _encode(fparts) if fparts else (np.zeros(len(cv.cells), np.int64), [], [], 1)
    names = ["q", *fields, "v"]
    sums = ["n", "wn", "w2n", "w4n"]
    cell, q, v = cv.cell, cv.q, cv.v  # rebuilt once per request from the compact form
    if enc is None or len(cv.n) == 0:
        return _wide(cv, cell, q, v, w_cell, kept, fparts, names, sums)
    gcell, glos, gdims, groups = enc
    gcell = np.where(kept, gcell, groups)  # one more group for the cells left out, dropped
    nv = int(v.max()) + 1
    per_q = (groups + 1) * nv
    size = (int(q.max()) + 1) * per_q
    if size > 4 * len(cv.n) + (1 << 22):
        return _wide(cv, cell, q, v, w_cell, kept, fparts, names, sums)
    # Entries a chunk at a time: at ten million rows there are some 2.6 million (question,
    # cell, value) entries, and the five arrays of them one pass held were 100 MB.
    found = []
    for s in range(0, len(cv.n), _ENTRIES):
        e = min(len(cv.n), s + _ENTRIES)
        c = cell[s:e]
        part = _part(q[s:e], gcell[c], v[s:e], w_cell[c], cv.n[s:e], (nv, per_q, size, groups))
        pq, g, pv, ts = part
        ps = [pq, *_decode(g, glos, gdims, narrow=True), pv]
        found.append(Sparse(dict(zip(names, ps, strict=True)), dict(zip(sums, ts, strict=True))))
    return found[0] if len(found) == 1 else Sparse.merge(found)


# Entries per chunk of ``weighted``: some 20 MB of temporaries.
_ENTRIES = 1 << 19


def _part(
    q: np.ndarray,
    gcell: np.ndarray,
    v: np.ndarray,
    w_entry: np.ndarray,
    n_entry: np.ndarray,
    shape: tuple[int, int, int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    """Question, group, value and the four sums of the entries' (question, group, value)s:
    one number per entry (the order of ``tally``'s counts) and four bincounts."""
    nv, per_q, size, groups = shape
    combo = q.astype(np.int64) * per_q
    combo += gcell * nv
    combo += v
    n = n_entry.astype(float)
    first = np.bincount(combo, weights=n, minlength=size)
    present = np.flatnonzero(first)
    found = [first[present]]
    del first
    # The weighted sums go into the present entries only (each bin adds its entries in the
    # same order as a bincount over ``size`` would), not into three more arrays of ``size``.
    slot = np.searchsorted(present, combo)
    del combo
    nw = n * w_entry
    del n
    found.append(np.bincount(slot, weights=nw, minlength=len(present)))
    nw *= w_entry
    found.append(np.bincount(slot, weights=nw, minlength=len(present)))
    nw *= w_entry**2
    found.append(np.bincount(slot, weights=nw, minlength=len(present)))
    pq, rest = np.divmod(present, per_q)
    g, pv = np.divmod(rest, nv)
    inside = g < groups
    ts = [np.rint(found[0][inside]).astype(np.int64), *(f[inside] for f in found[1:])]
    return pq[inside], g[inside], pv[inside], ts


def _wide(
    cv: CellValues,
    entry_cell: np.ndarray,
    q: np.ndarray,
    v: np.ndarray,
    w_cell: np.ndarray,
    kept: np.ndarray,
    fparts: list[np.ndarray],
    names: list[str],
    sums: list[str],
) -> Sparse:
    """``weighted`` by sorting the entries, where the groups span too wide a range."""
    e = kept[entry_cell]
    cell = entry_cell[e]
    n = cv.n[e].astype(np.int64)
    w = w_cell[cell]
    nw = n * w
    parts = [q[e].astype(np.int64), *(f[cell] for f in fparts), v[e].astype(np.int64)]
    ps, ts = group_sum(parts, [n, nw, nw * w, nw * w * w * w])
    return Sparse(dict(zip(names, ps, strict=True)), dict(zip(sums, ts, strict=True)))
