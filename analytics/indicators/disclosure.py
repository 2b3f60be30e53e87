"""Small-group protection: every published figure is a sum over whole disclosure blocks.

The promise is that no combination of published figures (sums, differences, any linear
combination of any number of them) tells anything about fewer than ``k`` respondents. Cell
suppression line by line cannot keep it once views are linked by filters, granularities and
weights (an evaluator subtracts a filtered table from an unfiltered one). So the respondents
of a campaign are first partitioned into *blocks* of at least ``k`` respondents each, once,
from the data alone and whatever is asked; then a cell (any grouping under any filter) is
published only if its respondents are a union of whole blocks. Every published count, sum and
sum of squares is then a sum of block totals, so any linear combination of published figures
is one too: it can reveal the totals of groups of blocks, never of a group smaller than ``k``.
The proof and what it leaves out are in ``docs/methodology.md`` ("Disclosure control");
``tests/hardening/test_disclosure_attack.py`` tries to break it.

Blocks are built bottom-up along a hierarchy of the respondents' attributes (unit, month,
area, sex, age band): a node of the hierarchy with at least ``k`` respondents keeps them in
blocks of its own; the respondents of smaller nodes are pooled in their parent, and a pool
still under ``k`` joins the parent's smallest block (whose node is then not whole: that is the
"secondary" suppression here). So a unit, a unit's month, an area of it... is publishable
when it is large enough and no small neighbour had to lean on it. Finer periods (weeks, days)
are not in the hierarchy: their cells are published only where they are whole blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PRIMARY = "primary"
SECONDARY = "secondary"

# The attributes blocks are nested by, the most protected first: a view along an attribute
# early in the list stays publishable on sparser data than one along a later attribute.
# Units and their months come first, because the ranking and the trends are what the
# figures are for; the demo's year-long campaign shows what later attributes cost
# (docs/methodology.md, "What it does not cover, and the cost").
HIERARCHY = ("unit", "month", "area", "sex", "age")


def blocks(levels: Sequence[np.ndarray], k: int, counts: np.ndarray | None = None) -> np.ndarray:
    """A block number per respondent (every block holds at least ``k`` respondents, unless
    all of them together are fewer).

    ``levels`` are the hierarchy's attributes, coarsest first, one non-negative integer code
    per respondent each, coded in an order that does not depend on arrival (ties between
    equally small blocks are broken by code, so every process builds the same blocks).

    With ``counts``, each entry stands for ``counts[i]`` respondents with the same attributes
    (a cell of the hierarchy's leaves). Every step below treats a leaf as a whole (a leaf's
    respondents are all pending or all placed, and every assignment is by node), and sizes
    are counted with these weights, so the cells get exactly the block numbers their
    respondents get one by one: the same partition, in time linear in the cells.
    """
    n = len(levels[0]) if levels else 0
    block = np.full(n, -1, np.int64)
    if n == 0:
        return block
    # Node of each respondent at each depth: a mixed-radix number over the first d levels.
    nodes = [np.zeros(n, np.int64)]
    for lv in levels:
        nodes.append(_dense(nodes[-1] * (int(lv.max()) + 1) + lv))
    leaf = nodes[-1]
    size = _count(leaf, counts)
    big = size[leaf] >= k
    block[big] = leaf[big]
    next_id = int(leaf.max()) + 1
    for depth in range(len(levels) - 1, -1, -1):
        node = nodes[depth]
        pending = block < 0
        if not pending.any():
            break
        total = _count(node, counts)
        pool = _count(node[pending], None if counts is None else counts[pending], len(total))
        # A pool of k or more is a block of its own.
        own = pending & (pool[node] >= k)
        if own.any():
            code = _dense(node[own])
            block[own] = next_id + code
            next_id += int(code.max()) + 1
        # A smaller pool in a node of k or more joins the node's smallest block.
        join = pending & (pool[node] < k) & (total[node] >= k)
        if join.any():
            done = ~pending
            bsize = _count(block[done], None if counts is None else counts[done])
            # Per node, its blocks sorted by (size, number): the first is the smallest.
            cand_node, cand_block = node[done], block[done]
            block[join] = _smallest(cand_node, cand_block, bsize, len(total))[node[join]]
    # Fewer than k respondents in all: one block (every cell of it is under k and suppressed).
    block[block < 0] = next_id
    return block


def _smallest(
    cand_node: np.ndarray, cand_block: np.ndarray, bsize: np.ndarray, nodes: int
) -> np.ndarray:
    """Per node, its smallest block by (size, number); -1 for a node with none."""
    span = int(cand_block.max()) + 1
    top = np.iinfo(np.int64).max
    if (int(bsize.max()) + 1) * span < top:
        # (size, number) as one integer and its least per node: no sort of the candidates.
        rank = bsize[cand_block] * span + cand_block
        best = np.full(nodes, top, np.int64)
        np.minimum.at(best, cand_node, rank)
        return np.where(best < top, best % span, -1)
    order = np.lexsort((cand_block, bsize[cand_block], cand_node))
    first = np.ones(len(order), bool)
    first[1:] = cand_node[order][1:] != cand_node[order][:-1]
    smallest = np.full(nodes, -1, np.int64)
    smallest[cand_node[order][first]] = cand_block[order][first]
    return smallest


def _count(code: np.ndarray, counts: np.ndarray | None, minlength: int = 0) -> np.ndarray:
    """Respondents per code: one per entry, or ``counts`` per entry (exact integers)."""
    if counts is None:
        return np.bincount(code, minlength=minlength)
    return np.rint(np.bincount(code, weights=counts, minlength=minlength)).astype(np.int64)


def _dense(key: np.ndarray) -> np.ndarray:
    """Codes 0..m-1 of non-negative keys, in the keys' order (by counting where the range
    allows: sorting a million keys was most of the time of ``blocks``)."""
    top = int(key.max()) + 1
    if top > 8 * len(key) + 1024:
        return np.unique(key, return_inverse=True)[1].reshape(-1).astype(np.int64)
    present = np.bincount(key, minlength=top) > 0
    remap = np.cumsum(present) - 1
    return remap[key].astype(np.int64)


class Partition:
    """Blocks of the respondents, with their members listed block by block (built once, then
    each query checks its groups against it in linear time)."""

    def __init__(self, block: np.ndarray) -> None:
        self.block = block
        self.order = np.argsort(block, kind="stable")
        sizes = np.bincount(block) if len(block) else np.zeros(0, np.int64)
        self.starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        self.nonempty = sizes > 0

    def complete(self, group: np.ndarray, n_groups: int) -> np.ndarray:
        """Per group, whether its members are whole blocks (a union of blocks).

        ``group`` is each respondent's group in ``0..n_groups-1``, or ``n_groups`` for one left
        out by the query (a filter): a group holding only part of a block is not complete.
        """
        ok = np.ones(n_groups, bool)
        if len(group) == 0 or n_groups == 0:
            return ok
        g = group[self.order]
        starts = self.starts[self.nonempty]
        # A block is cut when its members are not all in one group (or some are left out).
        cut_block = np.zeros(len(self.nonempty), bool)
        cut_block[self.nonempty] = np.minimum.reduceat(g, starts) != np.maximum.reduceat(g, starts)
        cut = cut_block[self.block] & (group < n_groups)
        ok[group[cut]] = False
        return ok


def complete(group: np.ndarray, block: np.ndarray, n_groups: int) -> np.ndarray:
    """``Partition.complete`` for a partition used once."""
    return Partition(block).complete(group, n_groups)
