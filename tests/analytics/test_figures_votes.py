"""The vote figures (results, tracker) on literal rows."""

from __future__ import annotations

from analytics import figures as F
from surveys.voting.schemas import SelectionResult

RESULTS = SelectionResult.model_validate(
    {
        "session_id": 1,
        "title": "票决",
        "title_en": "Vote",
        "year": 2026,
        "electorate": 300,
        "cast": 300,
        "voters_recorded": 300,
        "config_hash": "0" * 64,
        "counted_at": "2026-11-01T00:00:00+00:00",
        "projects": [
            {
                "project_id": 3,
                "title": "老旧小区加装电梯",
                "title_en": "Lifts",
                "category": "住房",
                "budget": 8_000_000,
                "for": 200,
                "against": 50,
                "abstain": 50,
                "passed": True,
                "rank": 2,
                "selected": True,
                "reason": "selected",
                "selected_equal_shares": True,
            },
            {
                "project_id": 1,
                "title": "社区食堂",
                "title_en": "Canteens",
                "category": "养老",
                "budget": 3_000_000,
                "for": 250,
                "against": 30,
                "abstain": 20,
                "passed": True,
                "rank": 1,
                "selected": True,
                "reason": "selected",
                "selected_equal_shares": True,
            },
            {
                "project_id": 2,
                "title": "体育公园",
                "title_en": "Sports park",
                "category": "文体",
                "budget": 25_000_000,
                "for": 180,
                "against": 90,
                "abstain": 30,
                "passed": True,
                "rank": 3,
                "selected": False,
                "reason": "over_budget",
                "selected_equal_shares": False,
            },
            {
                "project_id": 4,
                "title": "夜间公交",
                "title_en": "Night buses",
                "category": "交通",
                "budget": 2_000_000,
                "for": 100,
                "against": 150,
                "abstain": 50,
                "passed": False,
                "rank": None,
                "selected": False,
                "reason": "below_threshold",
                "selected_equal_shares": True,
            },
        ],
        "budget_used": 11_000_000,
        "budget_cap": 30_000_000,
        "threshold": "majority_of_all",
        "threshold_votes": 151,
        "on_no_fit": "skip",
        "max_selected": None,
        "max_for_per_ballot": None,
        "rule": "赞成票超过全体代表半数",
        "rule_en": "More than half of all deputies",
        "ties": [],
        "equal_shares": {
            "selected": [1, 4, 3],
            "budget_used": 13_000_000,
            "mes": [1, 4, 3],
            "greedy": [1, 3],
            "per_voter_budget": "100000",
            "prefer_mes": 200,
            "prefer_greedy": 100,
            "used_greedy": False,
            "method": "Equal Shares",
        },
    }
)


def test_vote_bars_threshold_selection_budget_and_equal_shares() -> None:
    fig = F.vote(RESULTS)
    f, a, ab, budget, rule, mes = fig.data
    assert list(f.y) == ["社区食堂", "老旧小区加装电梯", "体育公园", "夜间公交"]
    assert list(f.x) == [250, 200, 180, 100]
    assert list(a.x) == [30, 50, 90, 150] and list(ab.x) == [20, 50, 30, 50]
    # Selected projects are highlighted.
    assert list(f.marker.color) == [F.GREEN, F.GREEN, "#a5d6a7", "#a5d6a7"]
    assert list(f.text) == ["入选", "入选", "", ""]
    # The pass line: more than half of all 300 deputies.
    assert F.threshold_votes(RESULTS) == 151
    vline = [s for s in fig.layout.shapes if s.xref == "x"]
    assert vline and vline[0].x0 == 151
    # Budgets (in 10k yuan) stacked on what was selected before; the cap is drawn.
    assert list(budget.base) == [0, 300, 1100, 1100]
    assert list(budget.x) == [300, 800, 2500, 200]
    assert any(s.xref == "x2" and s.x0 == 3000 for s in fig.layout.shapes)
    # Default rule and Method of Equal Shares side by side.
    assert list(rule.marker.symbol) == ["circle", "circle", "circle-open", "circle-open"]
    assert list(mes.marker.symbol) == ["circle", "circle", "circle-open", "circle"]
    assert "半数" in fig.layout.title.text


def test_vote_english_titles_and_threshold_variants() -> None:
    fig = F.vote(RESULTS, lang="en")
    assert list(fig.data[0].y)[0] == "Canteens"
    # The line is the count's own threshold, whatever the rule; none for "none".
    at_least_50 = RESULTS.model_copy(update={"threshold": {"min_votes": 50}, "threshold_votes": 50})
    assert F.threshold_votes(at_least_50) == 50
    no_line = RESULTS.model_copy(update={"threshold": "none", "threshold_votes": 0})
    assert F.threshold_votes(no_line) is None
    assert not [s for s in F.vote(no_line).layout.shapes if s.xref == "x"]
    empty = RESULTS.model_copy(update={"projects": []})
    assert F.vote(empty).layout.annotations[0].text == "暂无可显示的数据"


def test_tracker_progress_by_status() -> None:
    rows = [
        {"project_id": 1, "title": "社区食堂", "status": "completed", "percent_done": 100},
        {
            "project_id": 3,
            "title": "加装电梯",
            "status": "in_progress",
            "percent_done": 45,
            "note": "<script>x</script>",
        },
    ]
    fig = F.tracker(rows)
    bars = fig.data[0]
    assert list(bars.y) == ["社区食堂", "加装电梯"] and list(bars.x) == [100, 45]
    assert list(bars.marker.color) == [F.GREEN, F.BLUE]
    assert bars.customdata[1][0] == "实施中" and "<script>" not in bars.customdata[1][1]


def test_long_rule_text_is_wrapped_for_the_title() -> None:
    zh = "赞成票超过全体代表半数的项目通过，" * 6
    lines = F.wrap(zh, 40)
    assert "".join(lines) == zh and all(len(line) <= 20 for line in lines)
    en = "A project passes when its for votes are more than half of all deputies. " * 3
    lines = F.wrap(en, 60)
    assert " ".join(lines) == en.strip() and all(len(line) <= 60 for line in lines)
    fig = F.vote(RESULTS.model_copy(update={"rule": zh}))
    assert fig.layout.title.text.count("<sup>") == len(F.wrap(zh))
