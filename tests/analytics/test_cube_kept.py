"""What a process keeps between views stays small and exact: kept counts in compact types, new
rows added without sorting the kept ones, one byte budget for every campaign."""

from __future__ import annotations

import numpy as np

from analytics.indicators import cube_memo, cube_query, cube_tally, cube_weighted, disclosure
from analytics.indicators.cube_tally import Sparse
from analytics.indicators.queries import Filters
from tests.analytics.test_cube_parts import KEYS, TABLES, WEIGHTS, _rows, _snap


def _sparse(rng: np.random.Generator, n: int, weighted: bool) -> Sparse:
    parts = [rng.integers(0, 7, n), rng.integers(20_000, 20_090, n), rng.integers(0, 3, n)]
    sums = [rng.integers(1, 50, n).astype(np.int64)]
    if weighted:
        sums += [rng.uniform(0.1, 3, n), rng.uniform(0.1, 9, n)]
    (a, b, c), tot = cube_tally.group_sum(parts, sums)
    names = ["n", "wn", "w2n"][: len(tot)]
    return Sparse({"q": a, "p": b, "v": c}, dict(zip(names, tot, strict=True)))


def test_adding_a_few_new_counts_equals_merging_them() -> None:
    rng = np.random.default_rng(3)
    for weighted in (False, True):
        for kept_n, new_n in ((5000, 40), (5000, 400), (30, 3), (0, 5), (50, 0)):
            kept = _sparse(rng, kept_n, weighted).compact()
            new = _sparse(rng, new_n, weighted)
            added, merged = kept.add(new), Sparse.merge([kept, new])
            assert len(added) == len(merged)
            for name in merged.parts:
                assert np.array_equal(added.parts[name], merged.parts[name])
            for name in merged.sums:  # the same additions in the same order: equal floats
                assert np.array_equal(added.sums[name], merged.sums[name])


def test_kept_counts_are_compact_and_unchanged() -> None:
    s = _sparse(np.random.default_rng(4), 2000, True)
    c = s.compact()
    assert c.parts["q"].dtype == np.int16 and c.parts["p"].dtype == np.int16
    assert c.sums["n"].dtype == np.int16 and c.sums["wn"].dtype == np.float64
    assert c.nbytes < s.nbytes
    for name in s.parts:
        assert np.array_equal(c.parts[name], s.parts[name])
    wide = cube_tally.small(np.array([0, 1 << 40]))
    assert wide.dtype == np.int64


def test_cell_values_of_two_parts_merge_to_those_of_all_rows() -> None:
    cols, answers = _rows(3000, seed=8)
    sizes = [len(TABLES[k][0]) for k in KEYS]

    def part(s: int, e: int) -> cube_weighted.CellValues:
        cv = cube_weighted.cell_values(
            {k: v[s:e] for k, v in cols.items()},
            {k: v[s:e] for k, v in answers.items()},
            KEYS,
            sizes,
            False,
        )
        assert cv is not None
        return cv

    whole, merged = part(0, 3000), cube_weighted._merge(part(0, 1700), part(1700, 3000))
    for name in ("cell", "q", "v", "n"):
        assert np.array_equal(getattr(whole, name), getattr(merged, name)), name
    assert whole.n.dtype == np.uint8 and whole.slot.dtype == np.int16


def test_cells_by_week_find_their_cell_without_a_search() -> None:
    cols, _ = _rows(4000, seed=9)
    coarse = cube_tally.cells(cols, False, None)
    fine = cube_tally.cells(cols, False, "week")
    expect = cube_tally.lookup(coarse, fine.parts)
    assert np.array_equal(cube_query._coarse_index(coarse, fine), expect)
    # Cells that do not match (never expected) fall back to the search.
    other = cube_tally.cells({k: v[:2000] for k, v in cols.items()}, False, None)
    assert np.array_equal(
        cube_query._coarse_index(other, fine), cube_tally.lookup(other, fine.parts)
    )


def test_one_budget_for_every_campaign() -> None:
    memo = cube_memo.Memo(entries=100, nbytes=1000)
    for lineage in ("a", "b", "c"):
        for i in range(3):
            memo.put((lineage, "counts", i), np.zeros(10), 150)
    assert memo.total <= 1000 and memo.total == sum(memo.sizes.values())
    assert list(memo.items)[-1] == ("c", "counts", 2)  # the least recently used went first
    memo.drop("c")
    assert all(key[0] != "c" for key in memo.items)
    assert memo.total == sum(memo.sizes.values())


def test_a_view_of_newer_rows_replaces_its_kept_answer() -> None:
    memo = cube_query.Memo()
    g = {"fields": ["unit"], "period": None, "include_flagged": False, "k": 5}
    for total in (3000, 3500, 4000):
        cube_query.groups(_snap(2500, memo, total), filters=Filters(), **g)
        # Newer rows change the blocks' weights too: still one entry for the weighted view.
        cube_query.counts(_snap(2500, memo, total), filters=Filters(), weights=WEIGHTS, **g)
    kinds = [key[1] for key in memo.items]
    assert kinds.count("groups") == 1 and kinds.count("blocks") == 1
    assert kinds.count("weighted") == 1


def test_the_smallest_block_per_node_without_a_sort_is_the_sorted_one() -> None:
    rng = np.random.default_rng(11)
    node = rng.integers(0, 300, 5000)
    blk = rng.integers(0, 2000, 5000)
    bsize = rng.integers(1, 40, 2000)  # ties in size are broken by the block's number
    fast = disclosure._smallest(node, blk, bsize, 320)
    # Sizes scaled past what one integer holds take the sorting path; same order of sizes.
    slow = disclosure._smallest(node, blk, bsize * (1 << 52), 320)
    assert np.array_equal(fast, slow) and (fast[300:] == -1).all()
