"""Figure functions on literal rows: the traces carry the data, suppressed rows carry none."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from analytics import figures as F
from tests.analytics.test_figures_votes import RESULTS

SECRET = 87.654  # a value planted in suppressed rows; it must never reach a figure


def values(fig: go.Figure) -> Iterator[Any]:
    """Every scalar in the traces' data arrays (x, y, z, r, text, customdata, base)."""
    for trace in fig.data:
        for attr in ("x", "y", "z", "r", "text", "customdata", "base", "error_x", "error_y"):
            v = getattr(trace, attr, None)
            if v is None:
                continue
            if hasattr(v, "to_plotly_json"):
                v = v.to_plotly_json()
            stack = [v]
            while stack:
                item = stack.pop()
                if isinstance(item, dict):
                    stack.extend(item.values())
                elif isinstance(item, list | tuple):
                    stack.extend(item)
                else:
                    yield item


def no_secret(fig: go.Figure) -> bool:
    text = pio.to_json(fig)
    return all(v != SECRET and v != round(SECRET, 1) for v in values(fig)) and "87.6" not in text


RANKING = [
    {
        "unit_code": "b",
        "index": 61.0,
        "ci_low": 55.0,
        "ci_high": 66.5,
        "rank": 2,
        "rank_low": 1,
        "rank_high": 3,
        "n": 40,
        "suppressed": False,
    },
    {
        "unit_code": "a",
        "index": 72.5,
        "ci_low": 70.0,
        "ci_high": 75.0,
        "rank": 1,
        "rank_low": 1,
        "rank_high": 2,
        "n": 300,
        "suppressed": False,
    },
    {
        "unit_code": "c",
        "index": 58.0,
        "ci_low": 50.0,
        "ci_high": 64.0,
        "rank": 3,
        "rank_low": 2,
        "rank_high": 3,
        "n": 25,
        "suppressed": False,
    },
    # Suppressed rows should carry no values; this one carries some anyway.
    {
        "unit_code": "d",
        "index": SECRET,
        "ci_low": SECRET,
        "ci_high": SECRET,
        "rank": None,
        "rank_low": None,
        "rank_high": None,
        "n": 3,
        "suppressed": True,
    },
]
NAMES = {"a": "民政局", "b": "教育局", "c": "<b>卫健委</b>", "d": "社保窗口"}


def test_ranking_bars_in_rank_order_with_whiskers_and_rank_ranges() -> None:
    fig = F.ranking(RANKING, names=NAMES)
    bars = fig.data[0]
    assert list(bars.y) == ["民政局", "教育局", "&lt;b&gt;卫健委&lt;/b&gt;"]
    assert list(bars.x) == [72.5, 61.0, 58.0]
    assert list(bars.error_x.array) == [2.5, 5.5, 6.0]
    assert list(bars.error_x.arrayminus) == [2.5, 6.0, 8.0]
    assert list(bars.text) == ["#1 (1–2)", "#2 (1–3)", "#3 (2–3)"]
    # The unit code rides along for the click-through to the profile.
    assert [c[0] for c in bars.customdata] == ["a", "b", "c"]
    assert fig.layout.yaxis.autorange == "reversed"


def test_ranking_suppressed_unit_is_grey_with_reason_and_no_value() -> None:
    fig = F.ranking(RANKING, names=NAMES, min_group_size=5)
    ghost = fig.data[1]
    assert ghost.meta == {"suppressed": True}
    assert list(ghost.y) == ["社保窗口"]
    assert list(ghost.x) == [100.0]  # the fixed placeholder width, not the unit's value
    assert ghost.marker.color == F.LIGHT
    assert "5" in ghost.text[0] and "不予显示" in ghost.text[0]
    assert ghost.customdata[0][0] == "d" and all(v is None for v in ghost.customdata[0][1:])
    assert no_secret(fig)


def test_ranking_reason_from_row_and_english_labels() -> None:
    rows = [{"unit_code": "x", "suppressed": True, "reason": "secondary <suppression>"}]
    fig = F.ranking(rows, lang="en")
    # The ranking trace stays first (empty here), so clients can rely on its position.
    assert list(fig.data[0].x) == [] and fig.data[1].text[0] == "secondary &lt;suppression&gt;"
    assert fig.layout.title.text == "Reputation index ranking"
    assert F.ranking([]).layout.annotations[0].text == "暂无可显示的数据"


HEAT = [
    {
        "unit_code": "a",
        "dimension": "attitude",
        "n": 300,
        "shrunk_score": 71.24,
        "suppressed": False,
    },
    {
        "unit_code": "a",
        "dimension": "efficiency",
        "n": 300,
        "shrunk_score": 64.0,
        "suppressed": False,
    },
    {
        "unit_code": "b",
        "dimension": "attitude",
        "n": 40,
        "shrunk_score": 55.56,
        "suppressed": False,
    },
    {
        "unit_code": "b",
        "dimension": "efficiency",
        "n": 2,
        "shrunk_score": SECRET,
        "suppressed": True,
    },
]


def test_heatmap_matrix_of_shrunk_scores_with_gaps_for_suppressed_cells() -> None:
    fig = F.heatmap(
        HEAT, names=NAMES, dimensions={"attitude": "服务态度", "efficiency": "办事效率"}
    )
    hm = fig.data[0]
    assert list(hm.x) == ["服务态度", "办事效率"]
    assert list(hm.y) == ["民政局", "教育局"]
    assert [list(r) for r in hm.z] == [[71.2, 64.0], [55.6, None]]
    assert hm.text[1][1] == "" and "不予显示" in hm.customdata[1][1]
    assert hm.zmin == 0 and hm.zmax == 100
    assert no_secret(fig)


def test_heatmap_keeps_a_given_unit_order() -> None:
    fig = F.heatmap(HEAT, unit_order=["b", "a"])
    assert list(fig.data[0].y) == ["b", "a"]


UNIT = [
    {
        "dimension": "attitude",
        "n": 40,
        "score": 80.0,
        "score_ci_low": 74.0,
        "score_ci_high": 85.0,
        "suppressed": False,
    },
    {
        "dimension": "efficiency",
        "n": 3,
        "score": SECRET,
        "score_ci_low": SECRET,
        "suppressed": True,
    },
]
DISTRICT = [
    {"dimension": "attitude", "n": 900, "score": 70.0, "suppressed": False},
    {"dimension": "efficiency", "n": 900, "score": 65.0, "suppressed": False},
]


def test_profile_bars_against_district_average() -> None:
    fig = F.profile(UNIT, DISTRICT, unit_code="a", names=NAMES)
    mine, avg = fig.data
    assert mine.name == "民政局" and avg.name == "全区平均"
    assert list(mine.y) == [80.0, None] and list(avg.y) == [70.0, 65.0]
    assert list(mine.error_y.array) == [5.0, None]
    assert list(mine.error_y.arrayminus) == [6.0, None]
    assert "民政局" in fig.layout.title.text
    assert no_secret(fig)


def test_profile_radar_closes_the_polygon() -> None:
    fig = F.profile(UNIT, DISTRICT, unit_code="a", style="radar", lang="en")
    mine, avg = fig.data
    assert mine.type == "scatterpolar"
    assert list(mine.r) == [80.0, None, 80.0]
    assert list(avg.r) == [70.0, 65.0, 70.0]
    assert no_secret(fig)


TREND = [
    {"period": "2026-01", "unit_code": "a", "dimension": "attitude", "score": 70.0, "n": 50},
    {
        "period": "2026-02",
        "unit_code": "a",
        "dimension": "attitude",
        "score": 78.0,
        "n": 60,
        "significant": True,
        "change": 8.0,
    },
    {
        "period": "2026-03",
        "unit_code": "a",
        "dimension": "attitude",
        "score": 66.0,
        "n": 55,
        "significant": True,
        "change": -12.0,
    },
    {"period": "2026-01", "unit_code": "b", "dimension": "attitude", "score": 60.0, "n": 30},
    {
        "period": "2026-02",
        "unit_code": "b",
        "dimension": "attitude",
        "score": SECRET,
        "n": 2,
        "suppressed": True,
        "significant": True,
    },
    {
        "period": "2026-03",
        "unit_code": "b",
        "dimension": "attitude",
        "score": 61.0,
        "n": 31,
        "significant": False,
        "change": 1.0,
    },
]


def test_trends_lines_per_series_with_significant_changes_marked() -> None:
    fig = F.trends(TREND, names=NAMES, dimensions={"attitude": "服务态度"})
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["民政局 · 服务态度", "教育局 · 服务态度"]
    assert list(lines[0].x) == ["2026-01", "2026-02", "2026-03"]
    assert list(lines[0].y) == [70.0, 78.0, 66.0]
    assert list(lines[1].y) == [60.0, None, 61.0]  # the suppressed period is a gap
    up = next(t for t in fig.data if t.meta == {"significant": "up"})
    down = next(t for t in fig.data if t.meta == {"significant": "down"})
    assert list(up.x) == ["2026-02"] and list(up.y) == [78.0]
    assert list(down.x) == ["2026-03"] and list(down.y) == [66.0]
    assert down.marker.symbol == "triangle-down"
    assert no_secret(fig)


def test_response_trend_counts_per_period() -> None:
    fig = F.response_trend([{"period": "2026-02", "n": 20}, {"period": "2026-01", "n": 10}])
    assert list(fig.data[0].x) == ["2026-01", "2026-02"] and list(fig.data[0].y) == [10, 20]


def test_response_trend_marks_hidden_periods_without_a_count() -> None:
    rows = [
        {"period": "2026-01", "n": 10, "suppressed": False},
        {"period": "2026-02", "n": None, "suppressed": True},
    ]
    fig = F.response_trend(rows, lang="en")
    assert list(fig.data[0].x) == ["2026-01"] and list(fig.data[0].y) == [10]
    assert list(fig.data[1].x) == ["2026-02"] and list(fig.data[1].y) == [0]
    assert "Hidden to protect small groups" in fig.data[1].text[0]
    every = F.response_trend([rows[1]], lang="en")
    assert not every.data and "Hidden to protect" in every.layout.annotations[0].text


def test_breakdown_by_area_with_suppressed_area_named_not_valued() -> None:
    rows = [
        {
            "area_code": "street-a",
            "n": 80,
            "score": 71.0,
            "score_ci_low": 68.0,
            "score_ci_high": 74.0,
        },
        {"area_code": "street-b", "n": 60, "score": 64.0},
        {"area_code": "street-c", "n": 2, "score": SECRET, "suppressed": True},
    ]
    fig = F.breakdown(
        rows,
        by=("area_code",),
        names={"street-a": "建设街道", "street-b": "和平街道", "street-c": "新华街道"},
    )
    bars = fig.data[0]
    assert list(bars.x) == ["建设街道", "和平街道", "新华街道"]
    assert list(bars.y) == [71.0, 64.0, None]
    assert list(bars.error_y.array)[0] == 3.0
    assert "新华街道" in fig.layout.annotations[0].text
    assert fig.layout.title.text == "按居住片区"
    assert no_secret(fig)


def test_breakdown_by_age_band_and_sex_gives_one_trace_per_sex() -> None:
    rows = [
        {"age_band": "18-34", "sex": "female", "n": 30, "score": 70.0},
        {"age_band": "18-34", "sex": "male", "n": 25, "score": 66.0},
        {"age_band": "35-59", "sex": "female", "n": 20, "score": 62.0},
        {"age_band": "35-59", "sex": "male", "n": 1, "score": SECRET, "suppressed": True},
    ]
    fig = F.breakdown(rows, by=("age_band", "sex"), lang="en")
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"Female", "Male"}
    assert list(by_name["Female"].x) == ["18-34", "35-59"]
    assert list(by_name["Female"].y) == [70.0, 62.0]
    assert list(by_name["Male"].y) == [66.0, None]
    assert fig.layout.showlegend is True
    assert no_secret(fig)


def test_sentiment_shares_stacked_most_negative_first() -> None:
    rows = [
        {
            "unit_code": "a",
            "n": 100,
            "positive": 0.6,
            "neutral": 0.3,
            "negative": 0.1,
            "negative_ci_low": 0.05,
            "negative_ci_high": 0.17,
        },
        {"unit_code": "b", "n": 50, "positive": 0.2, "neutral": 0.2, "negative": 0.6},
        {"unit_code": "c", "n": 3, "positive": SECRET, "negative": SECRET, "suppressed": True},
    ]
    fig = F.sentiment(rows, names=NAMES)
    neg, neu, pos, ghost = fig.data
    assert neg.name == "负面" and list(neg.y) == ["教育局", "民政局"]
    assert (
        list(neg.x) == [60.0, 10.0] and list(pos.x) == [20.0, 60.0] and list(neu.x) == [20.0, 30.0]
    )
    assert neg.customdata[1] == [100, 5.0, 17.0]
    assert fig.layout.barmode == "stack"
    assert ghost.meta == {"suppressed": True} and list(ghost.y) == ["&lt;b&gt;卫健委&lt;/b&gt;"]
    assert no_secret(fig)


def test_themes_most_negative_first_and_per_unit() -> None:
    rows = [
        {"unit_code": "a", "theme": "排队", "negative": 12, "count": 20, "negative_share": 0.6},
        {"unit_code": "a", "theme": "态度", "negative": 30, "count": 40, "negative_share": 0.75},
        {"unit_code": "b", "theme": "停车", "negative": 50, "count": 55, "negative_share": 0.9},
        {"unit_code": "a", "theme": "<img src=x>", "negative": 5, "count": 6},
    ]
    fig = F.themes(rows, unit_code="a", names=NAMES, top=2)
    assert list(fig.data[0].y) == ["态度", "排队"] and list(fig.data[0].x) == [30, 12]
    assert "民政局" in fig.layout.title.text
    all_units = F.themes(rows, top=10)
    assert list(all_units.data[0].y)[0] == "停车"
    assert "&lt;img src=x&gt;" in list(all_units.data[0].y)


def test_every_figure_serialises_to_plotly_json_with_the_small_template() -> None:
    figs = [
        F.ranking(RANKING),
        F.heatmap(HEAT),
        F.profile(UNIT, DISTRICT, unit_code="a"),
        F.trends(TREND),
        F.response_trend([{"period": "2026-01", "n": 9}]),
        F.breakdown([{"area_code": "x", "n": 9, "score": 50.0}]),
        F.sentiment([{"unit_code": "a", "n": 9, "positive": 1.0, "neutral": 0.0, "negative": 0.0}]),
        F.themes([{"theme": "x", "negative": 1}]),
        F.vote(RESULTS),
        F.tracker([{"project_id": 1, "title": "x", "status": "selected", "percent_done": 0}]),
    ]
    for fig in figs:
        data = json.loads(pio.to_json(fig))
        assert data["data"], fig.layout.title.text
        # The default "plotly" template would add ~10 kB to each figure.
        assert "histogram2dcontour" not in json.dumps(data["layout"])


def test_text_width_counts_cjk_as_one_em_and_latin_narrower() -> None:
    assert F.text_width("民政局") == 39
    assert F.text_width("Civil Affairs Bureau") < 20 * 13 * 0.7
    assert F.text_width("iiii") < F.text_width("MMMM")


def test_margins_leave_room_for_the_labels_so_plotly_draws_once() -> None:
    long = "民政局便民服务中心婚姻登记窗口"  # 15 CJK characters: 195 px at 13 px
    fig = F.ranking(RANKING, names={**NAMES, "a": long})
    assert fig.layout.margin.l >= F.text_width(long) + 12
    assert fig.layout.margin.r >= 24  # the x axis's last number sticks out
    # Few short categories sit side by side; many are turned upright and need their length.
    few = F.breakdown(
        [{"area_code": c, "n": 50, "score": 70.0} for c in ("a", "b", "c")],
        names={"a": "建设街道", "b": "和平街道", "c": "新华街道"},
    )
    many = F.breakdown(
        [{"area_code": f"c{i}", "n": 50, "score": 70.0} for i in range(40)],
        names={f"c{i}": f"第{i:02d}幸福社区" for i in range(40)},
    )
    assert few.layout.margin.b < 70
    assert many.layout.margin.b >= F.text_width("第00幸福社区") + 16
    # Every axis keeps automargin: if an estimate is short, plotly.js still widens it.
    assert F.TEMPLATE.layout.xaxis.automargin and F.TEMPLATE.layout.yaxis.automargin


def test_chart_modules_stay_pure_and_small() -> None:
    # Rows in, Figure out: no database, no web framework, and each module one chart family.
    import ast
    from pathlib import Path

    for path in Path(F.__file__).parent.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert len(source.splitlines()) <= 500, path.name
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [node.module] if isinstance(node, ast.ImportFrom) else []
                names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
                for name in names:
                    root = (name or "").split(".")[0]
                    assert root not in {"fastapi", "sqlalchemy", "sqlmodel", "starlette"}, (
                        path.name,
                        name,
                    )
