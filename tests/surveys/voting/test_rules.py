"""The counting rules on hand-made cases: thresholds, ranking ties, budget skips, counts,
grades, and the Method of Equal Shares against independent reference implementations."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from surveys.voting import equal_shares as shares
from surveys.voting import rules
from surveys.voting.rules import (
    Candidate,
    OnNoFit,
    Reason,
    RuleConfig,
    Threshold,
    ThresholdKind,
    select,
)

MAJ = Threshold(ThresholdKind.majority_of_all)
NONE = Threshold(ThresholdKind.none)


def c(id_: int, cost: int, f: int, a: int = 0, ab: int = 0) -> Candidate[int]:
    return Candidate(id_, cost, f, a, ab, position=id_)


def outcome(sel: rules.Selection[int]) -> dict[int, tuple[bool, int | None, bool, str]]:
    return {r.id: (r.passed, r.rank, r.selected, r.reason.value) for r in sel.rows}


# --- thresholds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "electorate", "cast", "required"),
    [
        (MAJ, 300, 280, 151),
        (MAJ, 301, 10, 151),
        (MAJ, 1, 1, 1),
        (MAJ, 2, 2, 2),
        (Threshold(ThresholdKind.majority_of_cast), 300, 200, 101),
        (Threshold(ThresholdKind.majority_of_cast), 300, 201, 101),
        (Threshold(ThresholdKind.fraction, fraction=Fraction(2, 3)), 300, 1, 200),
        (Threshold(ThresholdKind.fraction, fraction=Fraction(2, 3)), 301, 1, 201),
        (Threshold(ThresholdKind.fraction, fraction=Fraction("0.6")), 301, 1, 181),
        (Threshold(ThresholdKind.fraction, fraction=Fraction(1)), 7, 7, 7),
        (Threshold(ThresholdKind.min_votes, min_votes=50), 300, 3, 50),
        (NONE, 300, 300, 0),
    ],
)
def test_required_votes(threshold: Threshold, electorate: int, cast: int, required: int) -> None:
    assert threshold.required(electorate=electorate, cast=cast) == required


def test_majority_of_all_counts_seated_not_present_deputies() -> None:
    # 300 seated, only 200 voted: 150 "for" is a majority of those present but not of all.
    cands = [c(1, 10, 151), c(2, 10, 150), c(3, 10, 101)]
    sel = select(cands, RuleConfig(budget=100, threshold=MAJ), electorate=300, cast=200)
    assert outcome(sel) == {
        1: (True, 1, True, "selected"),
        2: (False, None, False, "below_threshold"),
        3: (False, None, False, "below_threshold"),
    }
    assert sel.required_votes == 151
    cast_rule = RuleConfig(budget=100, threshold=Threshold(ThresholdKind.majority_of_cast))
    sel = select(cands, cast_rule, electorate=300, cast=200)
    assert sel.selected_ids() == [1, 2, 3]


def test_threshold_edges_exactly_at_and_one_below() -> None:
    t = Threshold(ThresholdKind.min_votes, min_votes=50)
    sel = select([c(1, 1, 50), c(2, 1, 49)], RuleConfig(10, t), electorate=100, cast=100)
    assert sel.selected_ids() == [1]
    frac = Threshold(ThresholdKind.fraction, fraction=Fraction(2, 3))
    sel = select([c(1, 1, 200), c(2, 1, 199)], RuleConfig(10, frac), electorate=300, cast=300)
    assert sel.selected_ids() == [1]


def test_no_threshold_lets_zero_vote_projects_rank_last() -> None:
    sel = select([c(1, 5, 0), c(2, 5, 3)], RuleConfig(10, NONE), electorate=5, cast=5)
    assert [r.id for r in sel.rows] == [2, 1]
    assert sel.selected_ids() == [2, 1]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("majority_of_all", Threshold()),
        ("majority_of_cast", Threshold(ThresholdKind.majority_of_cast)),
        ("none", NONE),
        ({"fraction": 0.6}, Threshold(ThresholdKind.fraction, fraction=Fraction(3, 5))),
        ({"fraction": "2/3"}, Threshold(ThresholdKind.fraction, fraction=Fraction(2, 3))),
        ({"min_votes": 50}, Threshold(ThresholdKind.min_votes, min_votes=50)),
    ],
)
def test_threshold_parse(raw: object, expected: Threshold) -> None:
    parsed = Threshold.parse(raw)
    assert parsed == expected
    assert Threshold.parse(parsed.as_json()) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "fraction",
        "min_votes",
        "most",
        {"fraction": 0},
        {"fraction": 1.5},
        {"fraction": True},
        {"fraction": "1/0"},
        {"fraction": "abc"},
        {"min_votes": -1},
        {"min_votes": 2.5},
        {"fraction": 0.5, "min_votes": 3},
        None,
        7,
    ],
)
def test_threshold_parse_rejects(raw: object) -> None:
    with pytest.raises(ValueError):
        Threshold.parse(raw)


# --- ranking and ties -------------------------------------------------------------------------


def test_ranking_ties_fewer_against_then_cheaper_then_earlier_id() -> None:
    cands = [
        c(1, 30, 200, a=20),
        c(2, 30, 200, a=10),  # fewer against beats 1
        c(3, 20, 200, a=20),  # same against as 1, cheaper
        c(4, 20, 200, a=20),  # same as 3 in everything but id: later
        c(5, 5, 250, a=90),  # most "for" wins whatever the against
    ]
    sel = select(cands, RuleConfig(1000, MAJ), electorate=300, cast=300)
    assert [(r.id, r.rank) for r in sel.rows] == [(5, 1), (2, 2), (3, 3), (4, 4), (1, 5)]
    assert sel.ties == []  # everything selected: no tie decided anything


def test_decisive_tie_is_named_with_the_rule_that_settled_it() -> None:
    # Budget 50 fits only one of the two tied projects.
    sel = select(
        [c(1, 40, 180, a=30), c(2, 40, 180, a=20), c(3, 10, 170)],
        RuleConfig(50, MAJ),
        electorate=300,
        cast=290,
    )
    assert sel.selected_ids() == [2, 3]
    assert len(sel.ties) == 1
    tie = sel.ties[0]
    assert tie.ids == [2, 1] and tie.votes_for == 180 and tie.settled_by == ["fewer_against"]
    assert "反对票少" in rules.tie_words(tie) and "fewer" in rules.tie_words(tie, "en")

    by_cost = select([c(1, 45, 180), c(2, 40, 180)], RuleConfig(50, MAJ), electorate=300, cast=300)
    assert by_cost.selected_ids() == [2]
    assert by_cost.ties[0].settled_by == ["lower_cost"]

    by_id = select([c(7, 40, 180), c(3, 40, 180)], RuleConfig(50, MAJ), electorate=300, cast=300)
    assert by_id.selected_ids() == [3]
    assert by_id.ties[0].ids == [3, 7] and by_id.ties[0].settled_by == ["earlier_id"]


def test_tie_cut_by_max_count_is_reported() -> None:
    sel = select(
        [c(1, 1, 200), c(2, 1, 200), c(3, 1, 200)],
        RuleConfig(100, MAJ, max_selected=2),
        electorate=300,
        cast=300,
    )
    assert sel.selected_ids() == [1, 2]
    assert outcome(sel)[3] == (True, 3, False, "max_count")
    assert sel.ties[0].ids == [1, 2, 3] and sel.ties[0].settled_by == ["earlier_id"]


def test_tie_where_nobody_fits_is_not_decisive() -> None:
    sel = select(
        [c(1, 90, 200), c(2, 80, 200), c(3, 10, 150)], RuleConfig(50, NONE), electorate=3, cast=3
    )
    assert sel.selected_ids() == [3]
    assert sel.ties == []


# --- budget ---------------------------------------------------------------------------------


def test_budget_skip_takes_later_projects_that_still_fit() -> None:
    cands = [c(1, 60, 250), c(2, 50, 240), c(3, 40, 230), c(4, 1, 220)]
    sel = select(cands, RuleConfig(100, MAJ), electorate=300, cast=300)
    assert outcome(sel) == {
        1: (True, 1, True, "selected"),
        2: (True, 2, False, "over_budget"),
        3: (True, 3, True, "selected"),  # exactly fills the budget
        4: (True, 4, False, "over_budget"),
    }
    assert sel.budget_used == 100


def test_budget_stop_ends_selection_at_first_project_that_does_not_fit() -> None:
    cands = [c(1, 60, 250), c(2, 50, 240), c(3, 40, 230)]
    sel = select(cands, RuleConfig(100, MAJ, on_no_fit=OnNoFit.stop), electorate=300, cast=300)
    assert outcome(sel) == {
        1: (True, 1, True, "selected"),
        2: (True, 2, False, "over_budget"),
        3: (True, 3, False, "stopped"),
    }
    assert sel.budget_used == 60


def test_max_count_stops_selection() -> None:
    cands = [c(i, 10, 300 - i) for i in range(1, 6)]
    sel = select(cands, RuleConfig(1000, MAJ, max_selected=3), electorate=300, cast=300)
    assert sel.selected_ids() == [1, 2, 3]
    assert [r.reason for r in sel.rows[3:]] == [Reason.max_count, Reason.max_count]
    none = select(cands, RuleConfig(1000, MAJ, max_selected=0), electorate=300, cast=300)
    assert none.selected_ids() == [] and none.budget_used == 0


def test_zero_budget_selects_only_free_projects() -> None:
    sel = select([c(1, 0, 200), c(2, 5, 250)], RuleConfig(0, MAJ), electorate=300, cast=300)
    assert sel.selected_ids() == [1]


def test_rule_text_carries_the_numbers_in_both_languages() -> None:
    cfg = RuleConfig(30_000_000, MAJ, OnNoFit.skip, max_selected=10)
    zh = rules.rule_text(cfg, electorate=300, cast=288)
    en = rules.rule_text(cfg, electorate=300, cast=288, lang="en")
    assert "300" in zh and "151" in zh and "30,000,000" in zh and "10" in zh and "跳过" in zh
    assert "more than half of all 300" in en and "151" in en and "skipped" in en
    stop = rules.rule_text(RuleConfig(5, NONE, OnNoFit.stop), electorate=3, cast=3, lang="en")
    assert "ends the selection" in stop


def test_config_hash_is_canonical() -> None:
    a = rules.config_hash({"b": 1, "a": [1, 2], "t": "标题"})
    b = rules.config_hash({"t": "标题", "a": [1, 2], "b": 1})
    assert a == b and len(a) == 64
    assert rules.config_hash({"b": 2, "a": [1, 2], "t": "标题"}) != a


# --- satisfaction grades ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sat", "basic", "electorate", "expected"),
    [
        (151, 0, 300, "satisfied"),
        (150, 1, 300, "basically_satisfied"),
        (150, 0, 300, "dissatisfied"),
        (100, 50, 300, "dissatisfied"),
        (100, 51, 300, "basically_satisfied"),
        (0, 0, 300, "dissatisfied"),
        (2, 0, 3, "satisfied"),
        (1, 1, 3, "basically_satisfied"),
    ],
)
def test_grade(sat: int, basic: int, electorate: int, expected: str) -> None:
    assert rules.grade(satisfied=sat, basically_satisfied=basic, electorate=electorate) == expected


# --- Method of Equal Shares ---------------------------------------------------------------------


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
