"""The generation's counts plus the tail's equal a count of every row; the kept part is reused
exactly; blocks built from cell counts are the blocks of the respondents one by one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from analytics.indicators import cube_query, cube_tally, cube_weighted, disclosure
from analytics.indicators.queries import Counts, Filters

KEYS = ["q1", "q2"]
AGES = ["60+", "18-29", "30-44", "45-59"]
SEXES = ["male", "female"]


def _rows(n: int, seed: int, start: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    cols = {
        "rid": np.arange(start + 1, start + n + 1, dtype=np.int64),
        "unit": rng.integers(0, 6, n).astype(np.int32),
        "area": rng.integers(0, 4, n).astype(np.int32),
        "age": rng.integers(0, len(AGES), n).astype(np.int32),
        "sex": rng.integers(0, len(SEXES), n).astype(np.int32),
        "day": (20_000 + rng.integers(0, 80, n)).astype(np.int32),
        "flagged": rng.random(n) < 0.05,
    }
    answers = {
        "q1": np.where(rng.random(n) < 0.1, -1, rng.integers(0, 5, n)).astype(np.int16),
        "q2": np.where(rng.random(n) < 0.3, -1, rng.integers(0, 11, n)).astype(np.int16),
    }
    return cols, answers


TABLES: dict[str, tuple[list[Any], dict[Any, int]]] = {
    name: (values, {v: i for i, v in enumerate(values)})
    for name, values in {
        "unit": [105, 101, 104, 102, 103, 106],  # codes follow arrival, not value order
        "area": [7, 3, 9, 1],
        "age": AGES,
        "sex": SEXES,
        "q1": [3.0, 1.0, 5.0, 2.0, 4.0],
        "q2": [float(v) for v in (10, 0, 9, 1, 8, 2, 7, 3, 6, 4, 5)],
    }.items()
}


def _snap(
    split: int | None, memo: cube_query.Memo | None = None, total: int = 6000
) -> cube_query.Snap:
    """A campaign of 6,000 rows: the first ``split`` in a generation, the rest in the tail."""
    cols, answers = _rows(6000, seed=5)
    cols = {k: v[:total] for k, v in cols.items()}
    answers = {k: v[:total] for k, v in answers.items()}
    if split is None:
        base_cols = base_answers = None
    else:
        base_cols = {k: v[:split] for k, v in cols.items()}
        base_answers = {k: v[:split] for k, v in answers.items()}
        cols = {k: v[split:] for k, v in cols.items()}
        answers = {k: v[split:] for k, v in answers.items()}
    return cube_query.Snap(
        keys=KEYS,
        base_cols=base_cols,
        base_answers=base_answers,
        lineage="c",
        cols=cols,
        answers=answers,
        tables=TABLES,
        memo=memo or cube_query.Memo(),
    )


QUERIES: list[dict[str, Any]] = [
    {"fields": ["unit"], "period": None, "include_flagged": False, "filters": Filters()},
    {
        "fields": ["unit", "period"],
        "period": "week",
        "include_flagged": False,
        "filters": Filters(),
    },
    {"fields": ["period"], "period": "day", "include_flagged": True, "filters": Filters()},
    {"fields": ["age_band", "sex"], "period": None, "include_flagged": False, "filters": Filters()},
    {
        "fields": ["area", "period"],
        "period": "month",
        "include_flagged": False,
        "filters": Filters(unit_id=104),
    },
    {"fields": [], "period": None, "include_flagged": False, "filters": Filters(sex="female")},
]
WEIGHTS = {
    (a, g, s): 0.5 + 0.1 * i
    for i, (a, g, s) in enumerate((a, g, s) for a in (7, 3, 9, 1) for g in AGES for s in SEXES)
}


def _table(c: Counts, fields: list[str]) -> dict[tuple[Any, ...], tuple[int, float, float, float]]:
    out = {}
    for i in range(len(c)):
        key = tuple(c.keys[f][i] for f in fields) + (c.question[i], float(c.value[i]))
        out[key] = (int(c.n[i]), float(c.wn[i]), float(c.w2n[i]), float(c.w4n[i]))
    return out


@pytest.mark.parametrize("split", [0, 2500, 6000])
@pytest.mark.parametrize("weighted", [False, True])
def test_generation_plus_tail_equals_a_count_of_every_row(split: int, weighted: bool) -> None:
    for q in QUERIES:
        kw = dict(q, weights=WEIGHTS if weighted else None, k=5)
        whole = cube_query.counts(_snap(None), **kw)
        parts = cube_query.counts(_snap(split), **kw)
        a, b = _table(whole, q["fields"]), _table(parts, q["fields"])
        assert a.keys() == b.keys(), q
        for key, (n, wn, w2n, w4n) in a.items():
            assert b[key][0] == n
            assert b[key][1:] == pytest.approx((wn, w2n, w4n), rel=1e-12)
        assert list(whole.question) == list(parts.question)  # same order too
        assert whole.weights == (pytest.approx(parts.weights) if weighted else None)
        g = dict(q, k=25)
        assert cube_query.groups(_snap(None), **g) == cube_query.groups(_snap(split), **g)


def test_counts_in_small_chunks_equal_counts_in_one(monkeypatch: pytest.MonkeyPatch) -> None:
    kws = [dict(q, weights=w, k=5) for q in QUERIES for w in (None, WEIGHTS)]
    whole = [cube_query.counts(_snap(2500), **kw) for kw in kws]
    groups = [cube_query.groups(_snap(2500), **dict(q, k=25)) for q in QUERIES]
    monkeypatch.setattr(cube_tally, "CHUNK", 700)
    monkeypatch.setattr(cube_tally, "_FOLD", 300)
    for kw, c in zip(kws, whole, strict=True):
        a = _table(cube_query.counts(_snap(2500), **kw), kw["fields"])
        b = _table(c, kw["fields"])
        assert a.keys() == b.keys()
        for key, (n, *sums) in a.items():
            assert b[key][0] == n
            assert b[key][1:] == pytest.approx(tuple(sums), rel=1e-12)
    for q, g in zip(QUERIES, groups, strict=True):
        assert cube_query.groups(_snap(2500), **dict(q, k=25)) == g


def test_a_kept_part_gives_identical_counts() -> None:
    memo = cube_query.Memo()
    kw = dict(QUERIES[1], weights=None, k=5)
    first = cube_query.counts(_snap(4000, memo), **kw)
    misses = memo.misses
    again = cube_query.counts(_snap(4000, memo), **kw)
    assert memo.misses == misses and memo.hits >= 1
    for name in ("question", "value", "n", "wn", "w2n", "w4n"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    for f in kw["fields"]:
        assert np.array_equal(first.keys[f], again.keys[f])


@pytest.mark.parametrize("weighted", [False, True])
def test_kept_counts_are_extended_by_newer_rows_and_a_newer_generation(weighted: bool) -> None:
    memo = cube_query.Memo()
    for q in QUERIES:
        kw = dict(q, weights=WEIGHTS if weighted else None, k=5)
        # A request sees 2,500 mapped rows and a tail of 1,000; later ones see a longer tail,
        # then a newer generation that absorbed it.
        for split, total in ((2500, 3500), (2500, 4200), (4200, 5000), (5000, 5000)):
            kept = cube_query.counts(_snap(split, memo, total), **kw)
            fresh = cube_query.counts(_snap(None, total=total), **kw)
            a, b = _table(kept, q["fields"]), _table(fresh, q["fields"])
            assert a.keys() == b.keys(), q
            for key, (n, wn, w2n, w4n) in a.items():
                assert b[key][0] == n
                assert b[key][1:] == pytest.approx((wn, w2n, w4n), rel=1e-12)
            g = dict(q, k=25)
            assert cube_query.groups(_snap(split, memo, total), **g) == cube_query.groups(
                _snap(None, total=total), **g
            )


def test_the_memo_stays_bounded() -> None:
    memo = cube_query.Memo(entries=3)
    for i in range(10):
        memo.get(i, lambda i=i: np.zeros(10 + i), lambda a: a.nbytes)
    assert list(memo.items) == [7, 8, 9]


def _row_groups(q: dict[str, Any], k: int) -> dict[tuple[Any, ...], tuple[int, bool]]:
    """The rule applied respondent by respondent (the definition the cells must match)."""
    cols, _ = _rows(6000, seed=5)
    base = np.ones(6000, bool) if q["include_flagged"] else ~cols["flagged"]
    rank = {n: cube_query._rank(TABLES[n][0]) for n in ("unit", "area", "sex", "age")}
    month = cube_tally.months(cols["day"])
    levels = {"month": month - month.min()} | {n: rank[n][cols[n]] for n in rank}
    block = disclosure.blocks([levels[n][base] for n in disclosure.HIERARCHY], k)
    keep = base.copy()
    f: Filters = q["filters"]
    for name, value in (
        ("unit", f.unit_id),
        ("area", f.area_id),
        ("age", f.age_band),
        ("sex", f.sex),
    ):
        if value is not None:
            keep &= cols[name] == TABLES[name][1][value]
    names = {"unit": "unit", "area": "area", "age_band": "age", "sex": "sex"}
    labels = []
    for fld in q["fields"]:
        if fld in names:
            vals = TABLES[names[fld]][0]
            labels.append([vals[c] for c in cols[names[fld]].tolist()])
        else:
            per = cube_tally.period_code(cols["day"], q["period"] or "month")
            labels.append(
                [cube_tally.period_label(c, q["period"] or "month") for c in per.tolist()]
            )
    keys = [tuple(lab[i] for lab in labels) for i in range(6000)]
    distinct = sorted(set(keys[i] for i in np.flatnonzero(keep).tolist()))
    index = {key: j for j, key in enumerate(distinct)}
    group = np.array([index[keys[i]] if keep[i] else len(distinct) for i in range(6000)])
    ok = disclosure.complete(group[base], block, len(distinct))
    members = np.bincount(group[keep], minlength=len(distinct))
    return {key: (int(members[j]), bool(ok[j])) for key, j in index.items()}


@pytest.mark.parametrize("k", [5, 25, 200])
def test_groups_from_cells_equal_groups_from_rows(k: int) -> None:
    for q in QUERIES:
        assert cube_query.groups(_snap(3000), **q, k=k) == _row_groups(q, k), q


def test_blocks_from_cell_counts_are_the_blocks_of_the_respondents() -> None:
    rng = np.random.default_rng(11)
    for k in (3, 10, 40):
        levels = [rng.integers(0, m, 5000) ** 2 for m in (4, 3, 6, 2, 5)]
        rows = disclosure.blocks(levels, k)
        cell, first, inv, cnt = np.unique(
            np.stack(levels), axis=1, return_index=True, return_inverse=True, return_counts=True
        )
        by_cell = disclosure.blocks([lv[first] for lv in levels], k, counts=cnt)
        assert np.array_equal(by_cell[inv.reshape(-1)], rows)


def test_weighted_counts_from_cells_equal_weighted_counts_from_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kws = [dict(q, weights=WEIGHTS, k=k) for q in QUERIES for k in (5, 40)]
    by_cells = [cube_query.counts(_snap(2500), **kw) for kw in kws]
    monkeypatch.setattr(cube_weighted, "MAX_SLOTS", 0)  # every view counts rows
    for kw, cells in zip(kws, by_cells, strict=True):
        rows = cube_query.counts(_snap(2500), **kw)
        a, b = _table(cells, kw["fields"]), _table(rows, kw["fields"])
        assert a.keys() == b.keys()
        for key, (n, wn, w2n, w4n) in a.items():
            assert b[key][0] == n
            assert b[key][1:] == pytest.approx((wn, w2n, w4n), rel=1e-12)
        assert cells.weights == pytest.approx(rows.weights)
