"""The rule in plain words before any vote (``rules.rule_preview``): each threshold, the
budget in 万元, the count and the no-fit policy, in zh-CN and en."""

from __future__ import annotations

from fractions import Fraction

import pytest

from surveys.voting.rules import OnNoFit, RuleConfig, Threshold, ThresholdKind, rule_preview


def test_majority_of_all_with_the_count_and_budget() -> None:
    config = RuleConfig(budget=3_000_000, max_selected=5)
    assert rule_preview(config, electorate=40) == (
        "每位代表可对每个项目投赞成、反对或弃权；获得全体代表（40 名）过半数赞成（至少 21 票）"
        "的项目通过，按赞成票由多到少排序，在预算 300 万元内依次入选，最多选出前 5 项；"
        "放不下的项目跳过，继续考虑下一个。"
    )
    english = rule_preview(config, electorate=40, lang="en")
    assert "more than half of all 40 deputies (at least 21)" in english
    assert "3,000,000 yuan, at most 5 projects" in english


@pytest.mark.parametrize(
    ("threshold", "zh", "en"),
    [
        (Threshold(ThresholdKind.majority_of_cast), "所投票数过半数", "half of the ballots cast"),
        (
            Threshold(ThresholdKind.fraction, fraction=Fraction(3, 5)),
            "全体代表（7 名）的 3/5（至少 5 票）",
            "at least 3/5 of all 7 deputies (at least 5)",
        ),
        (Threshold(ThresholdKind.min_votes, min_votes=4), "至少 4 票赞成", 'at least 4 "for"'),
        (Threshold(ThresholdKind.none), "不设票数门槛", "no threshold"),
    ],
)
def test_each_threshold(threshold: Threshold, zh: str, en: str) -> None:
    config = RuleConfig(budget=1_234_567, threshold=threshold, on_no_fit=OnNoFit.stop)
    text = rule_preview(config, electorate=7, max_for_per_ballot=3)
    assert zh in text and "123.46 万元" in text and "遇到放不下的项目即停止选择" in text
    assert "每张选票至多投 3 个赞成" in text
    assert en in rule_preview(config, electorate=7, lang="en")


def test_before_the_electorate_is_known_and_for_satisfaction() -> None:
    text = rule_preview(RuleConfig(budget=500_000))
    assert "获得全体代表过半数赞成的项目通过" in text and "至少" not in text
    assert "50 万元" in text
    graded = rule_preview(RuleConfig(budget=0), satisfaction=True)
    assert graded.startswith("每位代表对每个项目评价满意、基本满意或不满意")
    assert "satisfied" in rule_preview(RuleConfig(budget=0), satisfaction=True, lang="en")
