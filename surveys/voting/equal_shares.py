"""The Method of Equal Shares for approval ballots, pure and exact (rationals, gmpy2), with
integral "add one" completion and the comparison step, as equalshares.net's compute tool
and Wieliczka's official count. Shown beside a session's own rule, for comparison only."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Generic, TypeVar

from gmpy2 import mpq

K = TypeVar("K", bound=Hashable)


@dataclass
class EqualSharesResult(Generic[K]):
    """MES with "add one" completion and the comparison step (equalshares.net's tool).

    ``mes`` is the completed MES outcome in selection order; ``greedy`` the plain
    vote-ranking outcome; ``selected`` the final one (``greedy`` only when more voters
    prefer it in the comparison step).
    """

    selected: list[K]
    mes: list[K]
    greedy: list[K]
    per_voter_budget: Fraction
    prefer_mes: int
    prefer_greedy: int
    used_greedy: bool
    runs: int  # fixed-budget MES computations made by the completion


@dataclass
class _Problem:
    costs: list[int]
    votes: list[int]  # approvals per project
    supporters: list[list[int]]  # per project: voter groups approving it
    mult: list[int]  # per voter group: how many voters cast that exact ballot
    n: int  # voters


def _problem(costs: Sequence[int], ballots: Sequence[Collection[int]]) -> _Problem:
    groups = Counter(frozenset(b) for b in ballots)
    keys = sorted(groups, key=lambda s: sorted(s))
    supporters: list[list[int]] = [[] for _ in costs]
    for g, ballot in enumerate(keys):
        for p in ballot:
            supporters[p].append(g)
    votes = [sum(groups[keys[g]] for g in s) for s in supporters]
    return _Problem(list(costs), votes, supporters, [groups[k] for k in keys], len(ballots))


def _mes_fixed(pb: _Problem, per_voter: Any) -> tuple[list[int], Any]:
    """Fixed-budget MES (equal split, cost utility as on equalshares.net) with every voter holding ``per_voter``.

    Returns the winners in order and a bound: for every per-voter budget ``t`` with
    ``per_voter <= t < bound`` the outcome is the same (``None``: unbounded).

    Why the bound holds: with the winners fixed, every voter group's money is an affine
    function of ``t`` (tracked as its value at ``per_voter`` plus a slope) as long as the
    winners' payment structure (who pays all they have, who pays the common share rho)
    stays the same; those comparisons are kept exactly. A non-winner's share rho_c(t) is
    then a convex function of ``t`` (it is the smallest rho with sum(min(money_g(t), rho))
    >= cost, and that set is convex), so the affine piece found at ``per_voter`` is a lower
    bound for rho_c everywhere, and also in later rounds, since money only shrinks. The
    winner stays best while its rho stays below every rival's lower bound; projects that
    cannot be afforded must stay so. Each such condition is an affine sign condition.
    """
    t0 = mpq(per_voter)
    zero = mpq(0)
    val = [t0] * len(pb.mult)
    slope = [mpq(1)] * len(pb.mult)
    bound: Any = None

    def keep(v: Any, k: Any) -> None:
        # The sign of v + k (t - t0) must stay what it is at t0.
        nonlocal bound
        if k == 0:
            return
        if v == 0:
            bound = t0
        elif (v > 0) != (k > 0):
            cross = t0 - v / k
            if bound is None or cross < bound:
                bound = cross

    costs = pb.costs
    # Lower bound of each project's rho as an affine piece (value at t0, slope); before any
    # payment, rho >= cost / votes everywhere (all supporters hold at most t).
    low: dict[int, tuple[Any, Any]] = {
        p: (mpq(costs[p], pb.votes[p]), zero)
        for p in range(len(costs))
        if costs[p] > 0 and pb.votes[p] > 0
    }
    winners: list[int] = []
    while low:
        best: tuple[Any, int, int, int] | None = None  # (rho/cost, -votes, cost, project)
        offers: dict[int, tuple[Any, Any, list[int]]] = {}
        for p in sorted(low, key=lambda q: (low[q][0] / costs[q], -pb.votes[q], costs[q], q)):
            cost = costs[p]
            if best is not None and (low[p][0] / cost, -pb.votes[p], cost, p) > best:
                break  # cannot beat the best even at its lower bound; nor can the rest
            sup = pb.supporters[p]
            money_v = sum((val[g] * pb.mult[g] for g in sup), zero)
            if money_v < cost:
                keep(money_v - cost, sum((slope[g] * pb.mult[g] for g in sup), zero))
                del low[p]  # money only shrinks: never affordable again
                continue
            paid_v = paid_k = zero
            denom = pb.votes[p]
            poor: list[int] = []
            for g in sorted(sup, key=val.__getitem__):
                if (cost - paid_v) / denom > val[g]:
                    paid_v += val[g] * pb.mult[g]
                    paid_k += slope[g] * pb.mult[g]
                    denom -= pb.mult[g]
                    poor.append(g)
                else:
                    break
            rho_v = (cost - paid_v) / denom
            rho_k = -paid_k / denom
            if any(val[g] == rho_v and slope[g] != rho_k for g in sup):
                # A kink of rho_c at t0: the piece is not a lower bound, keep it exactly.
                for g in sup:
                    keep(val[g] - rho_v, slope[g] - rho_k)
            low[p] = (rho_v, rho_k)
            offers[p] = (rho_v, rho_k, poor)
            key = (rho_v / cost, -pb.votes[p], cost, p)
            if best is None or key < best:
                best = key
        if best is None:
            break
        w = best[3]
        wv, wk, _ = offers[w]
        sup = pb.supporters[w]
        # The winner's rho is exact only while its payers split the same way.
        keep(
            sum((val[g] * pb.mult[g] for g in sup), zero) - costs[w],
            sum((slope[g] * pb.mult[g] for g in sup), zero),
        )
        for g in sup:
            keep(val[g] - wv, slope[g] - wk)
        for p, (lv, lk) in low.items():
            if p != w:
                # rival lower bound / its cost must stay above the winner's rho / its cost.
                keep(costs[w] * lv - costs[p] * wv, costs[w] * lk - costs[p] * wk)
        for g in sup:
            if val[g] > wv:
                val[g] -= wv
                slope[g] -= wk
            else:
                val[g] = zero
                slope[g] = zero
        winners.append(w)
        del low[w]
    return winners, bound


def _greedy(pb: _Problem, budget: int) -> list[int]:
    order = sorted(range(len(pb.costs)), key=lambda p: (-pb.votes[p], pb.costs[p], p))
    out: list[int] = []
    used = 0
    for p in order:
        if used + pb.costs[p] <= budget:
            out.append(p)
            used += pb.costs[p]
    return out


def _mes_add1(pb: _Problem, budget: int) -> tuple[list[int], Fraction, int]:
    """MES with integral "add one" completion, as in equalshares.net's compute tool.

    Start with ``floor(B/n)`` per voter and raise it one unit at a time while the outcome
    still costs at most B. Runs whose comparisons all come out the same give the same
    outcome, so the loop jumps over every per-voter budget inside the interval a run
    reports: exact, and usually far fewer runs than one per unit. When the outcome can no
    longer change (no bound), raising the budget further changes nothing and the loop ends
    (the reference tool would loop for ever there).

    When every project together fits in B, the tool skips the completion; here the
    outcome is then every approved project, which is where the completion converges.
    """
    if sum(pb.costs) <= budget:
        winners, _ = _mes_fixed(pb, max(1, sum(pb.costs)))
        return winners, Fraction(budget, pb.n), 1
    b = budget // pb.n
    winners, bound = _mes_fixed(pb, b)
    runs = 1
    while bound is not None:
        # Every integer t with b <= t < bound gives the same outcome as b.
        b = max(b, math.ceil(bound) - 1)
        nxt, nbound = _mes_fixed(pb, b + 1)
        runs += 1
        if sum(pb.costs[p] for p in nxt) > budget:
            break
        b += 1
        winners, bound = nxt, nbound
    return winners, Fraction(b), runs


def equal_shares(
    costs: Mapping[K, int],
    ballots: Sequence[Collection[K]],
    budget: int,
    *,
    comparison: bool = True,
) -> EqualSharesResult[K]:
    """Method of Equal Shares for approval ballots, with integral "add one" completion and
    (optionally) the comparison step against the greedy vote ranking, as Wieliczka used.

    Ties between equally good projects go to more votes, then the lower cost, then the
    earlier key in ``costs``' order. In the comparison step each voter prefers the outcome
    that funds more of the projects they approved; greedy replaces MES only when strictly
    more voters prefer it.
    """
    keys = list(costs)
    index = {k: i for i, k in enumerate(keys)}
    if any(costs[k] < 0 for k in keys):
        raise ValueError("costs must not be negative")
    int_ballots = [[index[k] for k in b] for b in ballots]
    if not int_ballots:
        return EqualSharesResult([], [], [], Fraction(0), 0, 0, False, 0)
    pb = _problem([costs[k] for k in keys], int_ballots)
    mes, per_voter, runs = _mes_add1(pb, budget)
    greedy = _greedy(pb, budget)
    prefer_mes = prefer_greedy = 0
    mes_set, greedy_set = set(mes), set(greedy)
    for g, ballot_groups in enumerate(_ballots_of_groups(pb)):
        a = len(ballot_groups & mes_set)
        b = len(ballot_groups & greedy_set)
        if a > b:
            prefer_mes += pb.mult[g]
        elif b > a:
            prefer_greedy += pb.mult[g]
    used_greedy = comparison and prefer_greedy > prefer_mes
    final = greedy if used_greedy else mes
    return EqualSharesResult(
        selected=[keys[p] for p in final],
        mes=[keys[p] for p in mes],
        greedy=[keys[p] for p in greedy],
        per_voter_budget=per_voter,
        prefer_mes=prefer_mes,
        prefer_greedy=prefer_greedy,
        used_greedy=used_greedy,
        runs=runs,
    )


def _ballots_of_groups(pb: _Problem) -> list[set[int]]:
    out: list[set[int]] = [set() for _ in pb.mult]
    for p, sup in enumerate(pb.supporters):
        for g in sup:
            out[g].add(p)
    return out
