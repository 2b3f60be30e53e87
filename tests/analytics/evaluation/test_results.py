"""Results per subject, checked on hand-computed examples and against an independent numpy
computation: grade shares with 不了解 out of the base, group weights, both point schemes,
every rule at its exact boundary, and the pooling of small rater groups."""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from analytics.evaluation.config import parse
from analytics.evaluation.results import (
    GradeRow,
    count,
    publishable_groups,
    subject_result,
)
from analytics.evaluation.words import rule_text
from surveys.evaluation.config import DEFAULT_CONFIG


def config(**changes: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(DEFAULT_CONFIG)
    cfg.update(changes)
    return cfg


def rows(sheets: dict[str, list[dict[str, str]]], subject: int = 1) -> list[GradeRow]:
    """Grade rows from {group: [sheet, ...]}, each sheet {item: grade}."""
    out = []
    rid = 0
    for group, group_sheets in sheets.items():
        for sheet in group_sheets:
            rid += 1
            for item, grade in sheet.items():
                out.append(GradeRow(group, subject, item, grade, rid))
    return out


def overall(*grades: str) -> list[dict[str, str]]:
    return [{"overall": g} for g in grades]


def result(cfg: dict[str, Any], sheets: dict[str, list[dict[str, str]]], k: int = 1) -> Any:
    return subject_result(rows(sheets), parse(cfg), subject_id=1, k=k, seed=1, draws=200)


# The overall grades of ten raters in three groups (one says 不了解).
TEN = {
    "members": overall("excellent", "excellent", "competent"),
    "staff": overall("competent", "basic", "unknown"),
    "served": overall("excellent", "incompetent", "competent", "competent"),
}


def test_grade_shares_leave_unknown_out_of_the_base() -> None:
    r = result(config(items=[]), TEN)
    c = r.totals["overall"]
    assert c.counts == {
        "excellent": 3,
        "competent": 4,
        "basic": 1,
        "incompetent": 1,
        "unknown": 1,
    }
    assert (c.known, c.unknown) == (9, 1)
    assert c.shares() == {
        "excellent": Fraction(1, 3),
        "competent": Fraction(4, 9),
        "basic": Fraction(1, 9),
        "incompetent": Fraction(1, 9),
    }
    staff = next(g for g in r.groups if g.key == "staff")
    assert staff.items["overall"].shares()["competent"] == Fraction(1, 2)
    assert r.n == 10


def test_weighted_score_by_hand_four_grades() -> None:
    # members (100+100+80)/3, staff (80+60)/2 (不了解 out), served (100+0+80+80)/4; 30/30/40.
    r = result(config(items=[]), TEN)
    means = {g.key: g.mean_points for g in r.groups}
    assert means == pytest.approx({"members": 280 / 3, "staff": 70.0, "served": 65.0})
    assert [g.weight_share for g in r.groups] == pytest.approx([0.3, 0.3, 0.4])
    assert r.score == pytest.approx(0.3 * 280 / 3 + 0.3 * 70 + 0.4 * 65) == 75.0


SATISFACTION = [
    {"key": "satisfied", "label": "满意", "points": 100},
    {"key": "fairly", "label": "基本满意", "points": 75},
    {"key": "unsatisfied", "label": "不满意", "points": 55},
]


def test_three_level_scheme_100_75_55() -> None:
    cfg = config(
        scale=SATISFACTION,
        items=[],
        groups=[{"key": "x", "label": "X", "weight": 60}, {"key": "y", "label": "Y", "weight": 40}],
        rules=[],
    )
    sheets = {
        "x": overall("satisfied", "satisfied", "fairly", "unsatisfied"),
        "y": overall("fairly", "unknown", "unsatisfied"),
    }
    r = result(cfg, sheets)
    assert [g.mean_points for g in r.groups] == pytest.approx([82.5, 65.0])
    assert r.score == pytest.approx(0.6 * 82.5 + 0.4 * 65)  # 75.5


def test_five_level_scheme_100_80_60_40_20() -> None:
    scale = [
        {"key": f"l{i}", "label": f"L{i}", "points": p} for i, p in enumerate((100, 80, 60, 40, 20))
    ]
    cfg = config(
        scale=scale,
        items=[],
        groups=[{"key": "a", "label": "A", "weight": 3}, {"key": "b", "label": "B", "weight": 1}],
        rules=[],
    )
    r = result(cfg, {"a": overall("l0", "l1", "l2", "l3", "l4"), "b": overall("l0", "l0", "l1")})
    assert [g.mean_points for g in r.groups] == pytest.approx([60.0, 280 / 3])
    assert r.score == pytest.approx((3 * 60 + 280 / 3) / 4)


def test_items_are_weighted_within_a_group() -> None:
    # de (weight 2) mean 100 (the 不了解 is out), neng (weight 1) mean (80+60)/2 = 70.
    cfg = config(
        items=[
            {"key": "de", "label": "德", "weight": 2},
            {"key": "neng", "label": "能", "weight": 1},
        ],
        groups=[{"key": "g", "label": "G", "weight": 1}],
        rules=[],
    )
    sheets = {
        "g": [
            {"de": "excellent", "neng": "competent", "overall": "incompetent"},
            {"de": "unknown", "neng": "basic", "overall": "incompetent"},
        ]
    }
    r = result(cfg, sheets)
    assert r.groups[0].item_points == pytest.approx({"overall": 0.0, "de": 100.0, "neng": 70.0})
    # The score is made of the items, not of the overall grade.
    assert r.score == pytest.approx((2 * 100 + 70) / 3)


def test_absent_group_shares_its_weight_out() -> None:
    r = result(config(items=[]), {"staff": TEN["staff"], "served": TEN["served"]})
    assert r.absent == ("members",)
    assert [g.weight_share for g in r.groups] == pytest.approx([30 / 70, 40 / 70])
    assert r.score == pytest.approx((30 * 70 + 40 * 65) / 70)


def rule_result(cfg: dict[str, Any], grades: list[str], key: str) -> Any:
    r = result(cfg, {"members": overall(*grades)})
    return next(x for x in r.rules if x.rule.key == key)


@pytest.mark.parametrize(
    ("grades", "talk", "adjust"),
    [
        # Exactly 2/3 excellent+competent is not "under 2/3"; exactly 1/3 incompetent is not
        # "over 1/3"; a 不了解 changes neither (out of the base).
        (["excellent", "competent", "incompetent"], False, False),
        (["excellent", "competent", "incompetent", "unknown", "unknown"], False, False),
        (["excellent", "competent", "incompetent"] * 5, False, False),
        # Just under 2/3 (2/4) and just over 1/3 (2/5).
        (["excellent", "competent", "basic", "incompetent"], True, False),
        (["excellent", "excellent", "competent", "incompetent", "incompetent"], True, True),
        # 7/10 over 2/3, 3/10 under 1/3.
        (["competent"] * 7 + ["incompetent"] * 3, False, False),
        # 13/20 = 0.65 under 2/3; 7/20 = 0.35 over 1/3.
        (["competent"] * 13 + ["incompetent"] * 7, True, True),
    ],
)
def test_default_rules_at_their_boundaries(grades: list[str], talk: bool, adjust: bool) -> None:
    cfg = config(items=[])
    assert rule_result(cfg, grades, "talk").flagged is talk
    assert rule_result(cfg, grades, "adjust").flagged is adjust


def test_rule_shares_are_exact_fractions() -> None:
    r = rule_result(config(items=[]), ["excellent", "competent", "incompetent", "unknown"], "talk")
    assert r.share == Fraction(2, 3)
    assert isinstance(r.share, Fraction)


@pytest.mark.parametrize(
    ("op", "flagged"), [("lt", False), ("le", True), ("gt", False), ("ge", True)]
)
def test_every_operator_at_exactly_the_threshold(op: str, flagged: bool) -> None:
    rule = {"key": "r", "label": "R", "when": {"grades": ["excellent"], "op": op, "share": "1/3"}}
    cfg = config(items=[], rules=[rule])
    assert rule_result(cfg, ["excellent", "basic", "basic"], "r").flagged is flagged


def test_a_rule_on_a_named_item_counts_that_item() -> None:
    rule = {
        "key": "lian",
        "label": "廉政提醒",
        "when": {"grades": ["incompetent"], "op": "ge", "share": "1/2", "item": "lian"},
    }
    sheets = {
        "members": [
            {"overall": "excellent", "lian": "incompetent"},
            {"overall": "excellent", "lian": "unknown"},
            {"overall": "excellent", "lian": "excellent"},
        ]
    }
    r = result(config(rules=[rule]), sheets)
    assert r.rules[0].share == Fraction(1, 2)
    assert r.rules[0].flagged is True


def test_a_rule_with_nothing_known_is_not_evaluated() -> None:
    assert rule_result(config(items=[]), ["unknown", "unknown"], "talk").flagged is None


def test_rules_in_words() -> None:
    cfg = parse(config())
    talk, adjust = cfg.rules
    assert (
        rule_text(talk, cfg, "zh-CN") == "总体评价中“优秀”“称职”合计占比低于 2/3（“不了解”不计入）"
    )
    assert rule_text(adjust, cfg, "zh-CN") == "总体评价中“不称职”占比高于 1/3（“不了解”不计入）"
    assert (
        rule_text(talk, cfg, "en")
        == "Excellent + Competent under 2/3 of the overall grades (“Don't know” left out)"
    )


def test_counts_ignore_grades_outside_the_scale() -> None:
    c = count(["excellent", "made_up", "unknown"], parse(config()))
    assert (c.known, c.unknown, sum(c.counts.values())) == (1, 1, 2)


@pytest.mark.parametrize(
    ("sizes", "k", "expected"),
    [
        ({"a": 5, "b": 5, "c": 5}, 5, [("a",), ("b",), ("c",)]),
        # One small group joins the smallest big one (ties: the first configured).
        ({"a": 9, "b": 6, "c": 2}, 5, [("a",), ("b", "c")]),
        ({"a": 6, "b": 6, "c": 2}, 5, [("a", "c"), ("b",)]),
        # Small groups that reach k together stand as one pooled group.
        ({"a": 9, "b": 3, "c": 2}, 5, [("a",), ("b", "c")]),
        ({"a": 9, "b": 4, "c": 4}, 5, [("a",), ("b", "c")]),
        ({"a": 3, "b": 3, "c": 0}, 5, [("a", "b")]),
        # Everyone together under k: nothing is published.
        ({"a": 2, "b": 2, "c": 0}, 5, None),
    ],
)
def test_publishable_groups(
    sizes: dict[str, int], k: int, expected: list[tuple[str, ...]] | None
) -> None:
    assert publishable_groups(sizes, ["a", "b", "c"], k) == expected


def test_no_published_group_is_under_k_and_all_add_up() -> None:
    rng = np.random.default_rng(3)
    for _ in range(500):
        sizes = {g: int(rng.integers(0, 12)) for g in "abcd"}
        k = int(rng.integers(1, 8))
        plan = publishable_groups(sizes, list("abcd"), k)
        if plan is None:
            assert sum(sizes.values()) < k
            continue
        assert all(sum(sizes[g] for g in grp) >= k for grp in plan)
        members = [g for grp in plan for g in grp]
        assert sorted(members) == sorted(g for g in "abcd" if sizes[g] > 0)


def test_small_group_pooled_and_weights_added() -> None:
    sheets = {
        "members": overall("excellent", "excellent"),
        "staff": overall(*["competent"] * 6),
        "served": overall(*["basic"] * 8),
    }
    r = result(config(items=[]), sheets, k=5)
    assert [(g.groups, g.n, g.weight) for g in r.groups] == [
        (("members", "staff"), 8, 60.0),
        (("served",), 8, 40.0),
    ]
    assert r.pooled
    assert r.groups[0].mean_points == pytest.approx((2 * 100 + 6 * 80) / 8)
    assert r.score == pytest.approx(0.6 * 85 + 0.4 * 60)


def test_fewer_than_k_in_all_publishes_nothing() -> None:
    r = result(config(items=[]), {"members": overall("excellent", "basic")}, k=5)
    assert r.suppressed and r.n is None and r.score is None and not r.groups and not r.rules


def numpy_score(
    grades: np.ndarray,
    groups: np.ndarray,
    points: np.ndarray,
    w_items: np.ndarray,
    w_groups: np.ndarray,
) -> float:
    """The scheme's score written directly: grades is raters x items of scale indices, -1 for
    不了解; groups the rater's group index."""
    values = np.where(grades >= 0, points[np.clip(grades, 0, None)], np.nan)
    group_means = []
    weights = []
    for g in range(len(w_groups)):
        block = values[groups == g]
        if len(block) == 0:
            continue
        item_means = np.nanmean(block, axis=0)
        ok = ~np.isnan(item_means)
        group_means.append(np.sum(item_means[ok] * w_items[ok]) / np.sum(w_items[ok]))
        weights.append(w_groups[g])
    return float(np.average(group_means, weights=weights))


@pytest.mark.parametrize("seed", range(5))
def test_score_equals_an_independent_numpy_computation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = parse(config())
    points = np.array([g.points for g in cfg.scale])
    w_items = np.array([i.weight for i in cfg.items]) * rng.integers(1, 4, len(cfg.items))
    cfg_dict = config(
        items=[
            {"key": i.key, "label": i.label, "weight": float(w)}
            for i, w in zip(cfg.items, w_items, strict=True)
        ]
    )
    cfg = parse(cfg_dict)
    n = 60
    groups = rng.integers(0, 3, n)
    grades = rng.integers(-1, 4, (n, len(cfg.items)))
    keys = [g.key for g in cfg.scale]
    out = []
    for r in range(n):
        for j, item in enumerate(cfg.items):
            grade = "unknown" if grades[r, j] < 0 else keys[grades[r, j]]
            out.append(GradeRow(cfg.groups[groups[r]].key, 1, item.key, grade, r + 1))
    got = subject_result(out, cfg, subject_id=1, k=1, seed=1, draws=100)
    w_groups = np.array([g.weight for g in cfg.groups])
    assert got.score == pytest.approx(numpy_score(grades, groups, points, w_items, w_groups))
    # The grade shares too, per item, with 不了解 out of the base.
    for j, item in enumerate(cfg.items):
        col = grades[:, j]
        known = col[col >= 0]
        shares = got.totals[item.key].shares()
        for idx, key in enumerate(keys):
            assert float(shares[key]) == pytest.approx(np.mean(known == idx))
