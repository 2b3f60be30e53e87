"""The shareable report of one campaign: a single HTML file with every chart (interactive:
plotly.js is inlined from the installed package), the tables behind them and the method.

It opens from a file with no network and prints cleanly (print stylesheet; charts are
resized to the page before printing). All user text goes through Jinja's autoescape, and
figure JSON is escaped for embedding in ``<script type="application/json">`` blocks.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from analytics import dashboard_data, figures
from analytics.dashboard_data import Dashboard

STRINGS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "report": "民意测评报告",
        "generated": "生成时间",
        "filters": "筛选条件",
        "all": "全部",
        "weighted": "加权",
        "unweighted": "未加权",
        "flagged_in": "含疑似异常答卷",
        "flagged_out": "不含疑似异常答卷",
        "area": "片区",
        "unit_kind": "单位类型",
        "period": "时间粒度",
        "month": "月份",
        "headline": "概况",
        "responses": "有效答卷",
        "areas": "受访者来自片区",
        "units": "参评单位",
        "overall": "全区综合得分",
        "table": "数据表",
        "hidden": "已隐藏",
        "contents": "目录",
        "method": "方法说明",
        "comments": "居民留言（节选）",
        "no_rows": "无数据",
        "method.text": (
            "得分：把每个回答换算到 0–100 分（最低分为 0，最高分为 100）后取平均。"
            "区间：95% 区间表示在所述假设下的估计精度——居民自愿参与，区间假定同一群体中作答者与未作答者相似，"
            "并非面向全体居民的抽样误差。收缩得分：样本少的单位向全区平均收缩（经验贝叶斯），"
            "收缩强度由数据估计（组内方差与组间方差之比），避免少数好评使小样本单位排名虚高。"
            "综合指数：各维度收缩得分按活动设定的权重加权平均。可能名次：在各单位指数的不确定性下"
            "反复模拟排名，取 2.5% 至 97.5% 分位；区间重叠的单位不应被视为有明确先后。"
            "趋势：相邻两期之差超过其随机波动（双侧检验，并控制错误发现率）时标记为显著变化。"
            "隐私：少于 {k} 名受访者的群体不显示任何数值，必要时连带隐藏其他格子，防止相减推算。"
        ),
        "method.details": "计算参数",
    },
    "en": {
        "report": "Minyi campaign report",
        "generated": "Generated",
        "filters": "Filters",
        "all": "all",
        "weighted": "weighted",
        "unweighted": "unweighted",
        "flagged_in": "flagged responses included",
        "flagged_out": "flagged responses excluded",
        "area": "Area",
        "unit_kind": "Unit kind",
        "period": "Time step",
        "month": "Month",
        "headline": "Overview",
        "responses": "Valid responses",
        "areas": "Respondents' areas",
        "units": "Units rated",
        "overall": "District score",
        "table": "Data table",
        "hidden": "hidden",
        "contents": "Contents",
        "method": "Method",
        "comments": "What residents wrote (extract)",
        "no_rows": "No data",
        "method.text": (
            "Scores: every answer is mapped to 0-100 (lowest point 0, highest 100) and averaged. "
            "Intervals: 95% intervals show precision under stated assumptions. Residents choose "
            "to respond; the intervals assume that within a group those who answered resemble "
            "those who did not, so they are not a margin of error for all residents. Shrunk "
            "scores: small samples are pulled toward the district mean (empirical Bayes) by a "
            "strength estimated from the data (within- over between-unit variance), so a few "
            "glowing answers cannot top the ranking. Composite index: the campaign-weighted mean "
            "of a unit's shrunk dimension scores. Plausible ranks: 2.5% to 97.5% quantiles of "
            "each unit's rank when the indices are redrawn within their uncertainty; units whose "
            "ranges overlap are not clearly ordered. Trends: a change between consecutive periods "
            "is marked when a two-sided test, corrected for the false discovery rate, finds it "
            "larger than its noise. Privacy: no group of fewer than {k} respondents shows any "
            "value, and further cells are hidden where subtraction could reveal one."
        ),
        "method.details": "Parameters",
    },
}

# The figures of the report, with the table columns shown under each (key, label key).
SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    ("responses", [("period", "period"), ("n", "responses")]),
    (
        "ranking",
        [
            ("rank", "rank"),
            ("unit", "unit"),
            ("index", "index"),
            ("interval", "interval"),
            ("rank_range", "rank_range"),
            ("n", "n"),
        ],
    ),
    ("heatmap", []),
    (
        "profile",
        [("dimension", "dimension"), ("score", "score"), ("interval", "interval"), ("n", "n")],
    ),
    (
        "trends",
        [
            ("dimension", "dimension"),
            ("period", "period"),
            ("score", "score"),
            ("n", "n"),
            ("significant", "significant"),
        ],
    ),
    (
        "breakdown_area",
        [("area", "area"), ("score", "score"), ("interval", "interval"), ("n", "n")],
    ),
    (
        "breakdown_profile",
        [
            ("age_band", "age_band"),
            ("sex", "sex"),
            ("score", "score"),
            ("interval", "interval"),
            ("n", "n"),
        ],
    ),
    (
        "sentiment",
        [
            ("unit", "unit"),
            ("negative", "negative"),
            ("neutral", "neutral"),
            ("positive", "positive"),
            ("n", "n"),
        ],
    ),
    ("themes", []),
    (
        "vote",
        [
            ("title", "title"),
            ("for", "for"),
            ("against", "against"),
            ("abstain", "abstain"),
            ("selected", "selected"),
        ],
    ),
    ("tracker", [("title", "title"), ("status", "status"), ("percent_done", "percent_done")]),
]
COLUMN_LABELS = {
    "zh-CN": {"unit": "单位", "dimension": "维度", "title": "项目", "interval": "95% 区间"},
    "en": {
        "unit": "Unit",
        "dimension": "Dimension",
        "title": "Project",
        "interval": "95% interval",
    },
}

TEMPLATE = """<!doctype html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ s.report }} · {{ title }}</title>
<style>
:root { --fg:#1f2933; --muted:#616e7c; --line:#d9e2ec; --accent:#c62828; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 1rem; color: var(--fg);
  font: 15px/1.55 system-ui, -apple-system, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 1rem; }
h1 { margin: .25rem 0; } h2 { margin: 1.5rem 0 .25rem; break-after: avoid; }
.muted { color: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr)); gap: .75rem; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: .5rem .75rem; }
.card .big { display: block; font-size: 1.6rem; font-weight: 700; }
section.fig { break-inside: avoid-page; margin-bottom: 1rem; }
.plot { width: 100%; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; margin: .5rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .25rem .4rem; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.hidden td { color: var(--muted); font-style: italic; }
details { margin: .5rem 0; }
pre { white-space: pre-wrap; font-size: .75rem; background: #f5f7fa; padding: .5rem; }
nav.toc ol { columns: 2; }
@media print {
  @page { size: A4; margin: 12mm; }
  body { max-width: none; padding: 0; font-size: 11pt; }
  nav.toc, .no-print { display: none; }
  .plot .modebar { display: none !important; }
  section.fig, table, tr { break-inside: avoid; }
  details > *:not(summary) { display: block; }
  a { color: inherit; text-decoration: none; }
}
</style>
</head>
<body>
<header>
  <p class="muted">{{ s.report }}</p>
  <h1>{{ title }}</h1>
  <p class="muted">{{ s.generated }}: {{ generated }} · {{ s.filters }}: {{ filters_text }}</p>
</header>
<nav class="toc"><strong>{{ s.contents }}</strong><ol>
{% for sec in sections %}<li><a href="#sec-{{ sec.name }}">{{ sec.title }}</a></li>{% endfor %}
<li><a href="#method">{{ s.method }}</a></li></ol></nav>
{% if headline %}
<h2>{{ s.headline }}</h2>
<div class="cards">
  <div class="card">{{ s.responses }}<span class="big">{{ headline.responses_text }}</span></div>
  <div class="card">{{ s.areas }}<span class="big">{{ headline.areas_text }}</span></div>
  <div class="card">{{ s.units }}<span class="big">{{ headline.units_text }}</span></div>
  <div class="card">{{ s.overall }}<span class="big">{{ headline.overall_text }}</span>
    <span class="muted">{{ headline.interval_text }}</span></div>
</div>
{% endif %}
{% for sec in sections %}
<section class="fig" id="sec-{{ sec.name }}">
  <h2>{{ sec.title }}</h2>
  <div class="plot" id="plot-{{ sec.name }}"></div>
  <script type="application/json" class="fig-data" data-target="plot-{{ sec.name }}">{{ sec.json|safe }}</script>
  {% if sec.columns and sec.rows %}
  <table>
    <caption class="muted">{{ s.table }}</caption>
    <thead><tr>{% for key, head in sec.columns %}<th>{{ head }}</th>{% endfor %}</tr></thead>
    <tbody>
    {% for row in sec.rows %}<tr{% if row.suppressed %} class="hidden"{% endif %}>{% for key, head in sec.columns %}<td{% if row.numeric[key] %} class="num"{% endif %}>{{ row.cells[key] }}</td>{% endfor %}</tr>
    {% endfor %}
    </tbody>
  </table>
  {% endif %}
</section>
{% endfor %}
{% if comments %}
<section id="sec-comments">
  <h2>{{ s.comments }}</h2>
  <table><tbody>
  {% for c in comments %}<tr><td>{{ c.unit }}</td><td>{{ c.sentiment_label }}</td><td>{{ c.comment }}</td></tr>
  {% endfor %}
  </tbody></table>
</section>
{% endif %}
<section id="method">
  <h2>{{ s.method }}</h2>
  <p>{{ method_text }}</p>
  <details><summary>{{ s["method.details"] }}</summary><pre>{{ method_json }}</pre></details>
</section>
<script>{{ plotly_js|safe }}</script>
<script>
(function () {
  var plots = [];
  var blocks = document.querySelectorAll("script.fig-data");
  for (var i = 0; i < blocks.length; i++) {
    var fig = JSON.parse(blocks[i].textContent);
    var div = document.getElementById(blocks[i].getAttribute("data-target"));
    Plotly.newPlot(div, fig.data, fig.layout, {responsive: true, displaylogo: false});
    plots.push(div);
  }
  document.body.setAttribute("data-charts-ready", String(plots.length));
  function fit(width) {
    plots.forEach(function (div) { Plotly.relayout(div, {width: width, autosize: !width}); });
  }
  window.addEventListener("beforeprint", function () { fit(680); });
  window.addEventListener("afterprint", function () { fit(null); });
})();
</script>
</body>
</html>
"""


@lru_cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(autoescape=True, trim_blocks=False, lstrip_blocks=False)
    return env.from_string(TEMPLATE)


@lru_cache
def plotly_js() -> str:
    """plotly.js from the installed package, made safe to sit inside a script element."""
    return get_plotlyjs().replace("</script", "<\\/script")


def _fmt(v: Any, digits: int = 1) -> str:
    num = figures.num(v)
    if num is None:
        return "" if v is None else str(v)
    return f"{num:,.{digits}f}" if isinstance(v, float) else f"{num:,.0f}"


def _cells(row: dict[str, Any], dash: Dashboard) -> tuple[dict[str, str], dict[str, bool]]:
    """Display text of a row's report columns (suppressed rows show no values)."""
    lang, names = dash.lang, dash.names
    hidden = bool(row.get("suppressed"))
    unit = row.get("unit_code")
    cells: dict[str, str] = {
        "unit": names.get(str(unit), str(unit or "")),
        "area": names.get(str(row.get("area_code")), str(row.get("area_code") or "")),
        "dimension": dash.dimensions.get(
            str(row.get("dimension")), str(row.get("dimension") or "")
        ),
        "period": str(row.get("period") or ""),
        "age_band": str(row.get("age_band") or figures.label(lang, "unknown")),
        "sex": figures.label(lang, f"sex.{row['sex']}")
        if row.get("sex")
        else figures.label(lang, "unknown"),
        "title": str((row.get("title_en") if lang == "en" else None) or row.get("title") or ""),
        "status": figures.label(lang, f"status.{row.get('status')}") if row.get("status") else "",
    }
    numeric: dict[str, bool] = {}
    if hidden:
        for key in (
            "index",
            "score",
            "interval",
            "rank",
            "rank_range",
            "n",
            "negative",
            "neutral",
            "positive",
        ):
            cells[key] = figures.label(lang, "suppressed") if key in ("index", "score") else ""
        return cells, numeric
    lo = row.get("ci_low") if "index" in row else row.get("score_ci_low")
    hi = row.get("ci_high") if "index" in row else row.get("score_ci_high")
    cells.update(
        index=_fmt(row.get("index")),
        score=_fmt(row.get("score")),
        interval=f"{_fmt(lo)} – {_fmt(hi)}" if lo is not None and hi is not None else "",
        rank=str(row.get("rank") or ""),
        rank_range=(
            f"{row.get('rank_low')}–{row.get('rank_high')}"
            if row.get("rank_low") is not None
            else ""
        ),
        n=_fmt(row.get("n")),
        significant=("▲" if (row.get("change") or 0) > 0 else "▼")
        if row.get("significant")
        else "",
        percent_done=_fmt(row.get("percent_done"), 0),
        selected="✓" if row.get("selected") else "",
    )
    for key in ("for", "against", "abstain"):
        cells[key] = _fmt(row.get(key))
    for key in ("negative", "neutral", "positive"):
        v = figures.num(row.get(key))
        cells[key] = "" if v is None else f"{100 * v:.1f}%"
    for key in (
        "index",
        "score",
        "rank",
        "n",
        "for",
        "against",
        "abstain",
        "percent_done",
        "negative",
        "neutral",
        "positive",
    ):
        numeric[key] = True
    return cells, numeric


def build(dash: Dashboard, *, generated_at: datetime) -> str:
    """The report of the dashboard's campaign (and voting session) as one HTML document."""
    lang = dash.lang
    s = STRINGS.get(lang, STRINGS["zh-CN"])
    col_labels = COLUMN_LABELS.get(lang, COLUMN_LABELS["zh-CN"])
    wanted = dash.default_figures()
    sections = []
    for name, columns in SECTIONS:
        if name not in wanted:
            continue
        fig = dash.figure(name)
        rows = dash.rows(name) if columns else []
        shown_rows = []
        for r in rows:
            cells, numeric = _cells(r, dash)
            shown_rows.append(
                {"cells": cells, "numeric": numeric, "suppressed": r.get("suppressed")}
            )
        title = fig.layout.title.text or name
        sections.append(
            {
                "name": name,
                "title": Markup(title.split("<br>")[0]).striptags(),
                "json": dashboard_data.figure_json(dash, name),
                "columns": [
                    (k, col_labels.get(k) or figures.label(lang, lab)) for k, lab in columns
                ],
                "rows": shown_rows,
            }
        )
    comments = dash.comment_rows()[0][:50] if "sentiment" in wanted else []
    f = dash.filters
    parts = [
        f"{s['period']} {f.period}",
        f"{s['month']} {f.month or s['all']}",
        f"{s['area']} {dash.names.get(f.area, f.area) if f.area else s['all']}",
        f"{s['unit_kind']} {f.unit_kind or s['all']}",
        s["weighted"] if f.weighted else s["unweighted"],
        s["flagged_in"] if f.include_flagged else s["flagged_out"],
    ]
    campaign = dash.campaign
    title = ""
    if campaign is not None:
        title = (campaign.title_en if lang == "en" and campaign.title_en else campaign.title) or ""
    return _template().render(
        lang=lang,
        s=s,
        title=title,
        generated=generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        filters_text=" · ".join(parts),
        headline=dash.headline() if campaign is not None else None,
        sections=sections,
        comments=comments,
        method_text=s["method.text"].format(k=dash.k),
        method_json=dashboard_data.method_text(dash),
        plotly_js=plotly_js(),
    )
