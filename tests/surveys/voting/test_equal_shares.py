"""The Method of Equal Shares on hand-made cases and against independent reference
implementations (a textbook one-voter-at-a-time version, and pabutools)."""

from __future__ import annotations

import random
from fractions import Fraction

from surveys.voting import equal_shares as shares


def test_equal_shares_is_proportional_where_greedy_is_not() -> None:
    # 51 voters approve ten red projects, 49 approve ten blue ones; money for ten projects.
    costs = {f"R{i}": 100 for i in range(10)} | {f"B{i}": 100 for i in range(10)}
    ballots = [[f"R{i}" for i in range(10)]] * 51 + [[f"B{i}" for i in range(10)]] * 49
    res = shares.equal_shares(costs, ballots, 1000, comparison=False)
    assert sorted(res.mes) == sorted([f"R{i}" for i in range(5)] + [f"B{i}" for i in range(5)])
    assert res.greedy == [f"R{i}" for i in range(10)]
    assert res.selected == res.mes and not res.used_greedy
    # In the comparison step the 51 red voters prefer greedy: it replaces MES.
    cmp = shares.equal_shares(costs, ballots, 1000)
    assert (cmp.prefer_greedy, cmp.prefer_mes) == (51, 49)
    assert cmp.used_greedy and cmp.selected == cmp.greedy


def test_equal_shares_add_one_completion_spends_more() -> None:
    # 10 voters, budget 100: with 10 each, C's two supporters hold 20 < 25. Raising the
    # per-voter budget to 13 lets them pay; the outcome (95) then never changes, since D
    # has no supporters, and the completion ends there.
    costs = {"A": 40, "B": 30, "C": 25, "D": 50}
    ballots = [["A"]] * 4 + [["B"]] * 4 + [["C"]] * 2
    fixed, _ = shares._mes_fixed(
        shares._problem([40, 30, 25, 50], [[0]] * 4 + [[1]] * 4 + [[2]] * 2), 10
    )
    assert fixed == [1, 0]  # A and B tie on price per unit of cost: B is cheaper
    res = shares.equal_shares(costs, ballots, 100, comparison=False)
    assert res.mes == ["B", "A", "C"]
    assert res.per_voter_budget == 13


def test_equal_shares_when_everything_fits_funds_every_approved_project() -> None:
    costs = {"A": 40, "B": 30, "C": 30, "D": 5}
    ballots = [["A"]] * 4 + [["B"]] * 4 + [["C"]] * 2
    res = shares.equal_shares(costs, ballots, 200)
    assert sorted(res.mes) == ["A", "B", "C"]


def test_equal_shares_without_ballots() -> None:
    res = shares.equal_shares({"A": 5}, [], 10)
    assert res.selected == [] and res.mes == []


def _reference_mes(costs: list[int], ballots: list[list[int]], per_voter: Fraction) -> list[int]:
    """Textbook MES, one voter at a time, Fractions, no grouping and no shortcuts."""
    budget = [Fraction(per_voter)] * len(ballots)
    approvers = [[i for i, b in enumerate(ballots) if p in b] for p in range(len(costs))]
    remaining = {p for p in range(len(costs)) if costs[p] > 0 and approvers[p]}
    winners: list[int] = []
    while True:
        best: tuple[Fraction, int, int, int] | None = None
        for p in sorted(remaining):
            if sum(budget[i] for i in approvers[p]) < costs[p]:
                remaining.discard(p)
                continue
            payers = sorted(approvers[p], key=lambda i: budget[i])
            paid, left = Fraction(0), len(payers)
            for i in payers:
                rho = (costs[p] - paid) / left
                if rho > budget[i]:
                    paid += budget[i]
                    left -= 1
                else:
                    break
            rho = (costs[p] - paid) / left
            key = (rho / costs[p], -len(approvers[p]), costs[p], p)
            if best is None or key < best:
                best = key
        if best is None:
            return winners
        w = best[3]
        rho = best[0] * costs[w]
        for i in approvers[w]:
            budget[i] = budget[i] - rho if budget[i] > rho else Fraction(0)
        winners.append(w)
        remaining.discard(w)


def _reference_add1(costs: list[int], ballots: list[list[int]], budget: int) -> list[int]:
    n = len(ballots)
    if sum(costs) <= budget:  # Minyi funds every approved project then (see rules)
        return _reference_mes(costs, ballots, Fraction(max(1, sum(costs))))
    b = budget // n
    winners = _reference_mes(costs, ballots, Fraction(b))
    # From a per-voter budget of sum(costs) on, every voter can pay for everything: the
    # outcome no longer changes.
    while b <= sum(costs):
        nxt = _reference_mes(costs, ballots, Fraction(b + 1))
        if sum(costs[p] for p in nxt) > budget:
            return winners
        b, winners = b + 1, nxt
    return winners


def _random_instance(rng: random.Random) -> tuple[list[int], list[list[int]], int]:
    m = rng.randint(2, 7)
    n = rng.randint(1, 12)
    costs = [
        rng.choice([0, rng.randint(1, 60)]) if rng.random() < 0.1 else rng.randint(1, 60)
        for _ in range(m)
    ]
    pop = [rng.random() for _ in range(m)]
    ballots = [[p for p in range(m) if rng.random() < pop[p]] for _ in range(n)]
    budget = rng.randint(1, max(1, sum(costs)))
    return costs, ballots, budget


def test_fast_add_one_matches_the_one_unit_at_a_time_reference() -> None:
    rng = random.Random(20260)
    checked = 0
    for _ in range(400):
        costs, ballots, budget = _random_instance(rng)
        res = shares.equal_shares(dict(enumerate(costs)), ballots, budget, comparison=False)
        assert res.mes == _reference_add1(costs, ballots, budget), (costs, ballots, budget)
        assert sum(costs[p] for p in res.mes) <= budget
        checked += 1
    assert checked == 400


def test_fixed_budget_mes_matches_pabutools() -> None:
    from pabutools.election import ApprovalBallot, ApprovalProfile, Cost_Sat, Instance, Project
    from pabutools.rules import method_of_equal_shares
    from pabutools.tiebreaking import TieBreakingRule

    rng = random.Random(7)
    for _ in range(150):
        m = rng.randint(2, 8)
        n = rng.randint(2, 15)
        costs = rng.sample(range(1, 500), m)
        ballots = [[p for p in range(m) if rng.random() < 0.5] for _ in range(n)]
        budget = rng.randint(1, sum(costs))
        projects = [Project(f"p{p}", costs[p]) for p in range(m)]
        instance = Instance(projects, budget_limit=budget)
        profile = ApprovalProfile([ApprovalBallot([projects[p] for p in b]) for b in ballots])
        votes = {f"p{p}": sum(p in b for b in ballots) for p in range(m)}
        # Minyi's tie-break: more votes, then cheaper, then earlier.
        ties = TieBreakingRule(lambda _i, _p, proj, v=votes: (-v[proj.name], proj.cost, proj.name))
        theirs = method_of_equal_shares(instance, profile, sat_class=Cost_Sat, tie_breaking=ties)
        pb = shares._problem(costs, ballots)
        ours, _ = shares._mes_fixed(pb, shares.mpq(budget, n))
        assert {f"p{p}" for p in ours} == {p.name for p in theirs}, (costs, ballots, budget)
