"""The counting rules on hand-made cases: thresholds, ranking ties, budget skips, counts,
grades (the Method of Equal Shares is tested in test_equal_shares)."""

from __future__ import annotations

from fractions import Fraction

import pytest

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
