"""Rows in, Plotly figure out: every chart of the evaluator dashboard and the report.

Pure functions: they take plain rows shaped like the public contracts of the analytics and
voting APIs (dicts; extra keys are ignored) and return a ``plotly.graph_objects.Figure``. No
database, no web framework. Two rules hold in every function:

- a row marked ``suppressed`` contributes no value to the figure, whatever numbers it carries
  (the privacy rule is enforced upstream; this is the second lock on the door);
- user-supplied text (unit names, project titles, themes) is HTML-escaped, because Plotly
  renders a subset of HTML in labels and hover text.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

Row = Mapping[str, Any]

FONT = 'system-ui, -apple-system, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif'
BLUE, RED, GREEN, GREY, LIGHT = "#1565c0", "#c62828", "#2e7d32", "#9aa5b1", "#e4e7eb"
AMBER = "#ef6c00"
# A small template: the default "plotly" one adds ~10 kB of JSON to every figure.
TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": FONT, "size": 13, "color": "#1f2933"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "colorway": [BLUE, RED, GREEN, AMBER, "#6a1b9a", "#00838f", "#5d4037", "#ad1457"],
        "xaxis": {"gridcolor": "#eef1f4", "zerolinecolor": "#d9e2ec", "automargin": True},
        "yaxis": {"gridcolor": "#eef1f4", "zerolinecolor": "#d9e2ec", "automargin": True},
        "hoverlabel": {"font": {"family": FONT}},
        "legend": {"orientation": "h", "y": -0.12, "x": 0},
    }
)

LABELS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "ranking": "口碑综合指数排名",
        "index": "综合指数",
        "rank": "名次",
        "rank_range": "可能名次",
        "interval": "95% 区间",
        "suppressed": "已隐藏",
        "too_few": "样本不足 {k} 人，不予显示",
        "heatmap": "各单位分维度得分（收缩估计）",
        "shrunk_score": "收缩得分",
        "n": "样本数",
        "profile": "单位画像：{unit}",
        "district_average": "全区平均",
        "score": "得分",
        "trends": "得分趋势",
        "trends_of": "得分趋势：{subject}",
        "district": "全区",
        "period": "时间",
        "significant": "显著变化",
        "up": "显著上升",
        "down": "显著下降",
        "breakdown_area": "按居住片区",
        "breakdown_profile": "按受访者特征",
        "area": "片区",
        "sentiment": "留言情感分布",
        "positive": "正面",
        "neutral": "中性",
        "negative": "负面",
        "share": "占比",
        "themes": "负面主题 Top {n}",
        "themes_unit": "负面主题 Top {n}：{unit}",
        "mentions": "负面留言提及数",
        "negative_share": "负面占比",
        "vote": "民生实事项目票决结果",
        "for": "赞成",
        "against": "反对",
        "abstain": "弃权",
        "votes": "票数",
        "threshold": "通过线 {v} 票",
        "selected": "入选",
        "not_selected": "未入选",
        "passed": "通过",
        "cumulative_budget": "累计预算（万元）",
        "budget_cap": "预算上限",
        "budget": "预算（万元）",
        "default_rule": "默认规则",
        "equal_shares": "均等份额法",
        "outcome": "入选结果对比",
        "tracker": "入选项目实施进度",
        "percent_done": "完成进度（%）",
        "status": "状态",
        "responses": "答卷数",
        "response_trend": "答卷数量趋势",
        "no_data": "暂无可显示的数据",
        "status.selected": "已入选",
        "status.in_progress": "实施中",
        "status.completed": "已完成",
        "status.not_selected": "未入选",
        "status.on_ballot": "待票决",
        "status.proposed": "已提议",
        "age_band": "年龄段",
        "sex": "性别",
        "sex.male": "男",
        "sex.female": "女",
        "sex.other": "其他",
        "unknown": "未填写",
    },
    "en": {
        "ranking": "Reputation index ranking",
        "index": "Composite index",
        "rank": "Rank",
        "rank_range": "Plausible ranks",
        "interval": "95% interval",
        "suppressed": "Hidden",
        "too_few": "Fewer than {k} respondents: not shown",
        "heatmap": "Shrunk scores by unit and dimension",
        "shrunk_score": "Shrunk score",
        "n": "Respondents",
        "profile": "Unit profile: {unit}",
        "district_average": "District average",
        "score": "Score",
        "trends": "Score trends",
        "trends_of": "Score trends: {subject}",
        "district": "District",
        "period": "Period",
        "significant": "Significant change",
        "up": "Significant rise",
        "down": "Significant fall",
        "breakdown_area": "By residents' area",
        "breakdown_profile": "By respondent profile",
        "area": "Area",
        "sentiment": "Comment sentiment",
        "positive": "Positive",
        "neutral": "Neutral",
        "negative": "Negative",
        "share": "Share",
        "themes": "Top {n} negative themes",
        "themes_unit": "Top {n} negative themes: {unit}",
        "mentions": "Negative comments mentioning it",
        "negative_share": "Negative share",
        "vote": "Livelihood projects: the deputies' vote",
        "for": "For",
        "against": "Against",
        "abstain": "Abstain",
        "votes": "Votes",
        "threshold": "Pass line {v} votes",
        "selected": "Selected",
        "not_selected": "Not selected",
        "passed": "Passed",
        "cumulative_budget": "Cumulative budget (10k yuan)",
        "budget_cap": "Budget cap",
        "budget": "Budget (10k yuan)",
        "default_rule": "Default rule",
        "equal_shares": "Equal Shares",
        "outcome": "Selection compared",
        "tracker": "Implementation of selected projects",
        "percent_done": "Done (%)",
        "status": "Status",
        "responses": "Responses",
        "response_trend": "Responses over time",
        "no_data": "No data to show yet",
        "status.selected": "Selected",
        "status.in_progress": "In progress",
        "status.completed": "Completed",
        "status.not_selected": "Not selected",
        "status.on_ballot": "On the ballot",
        "status.proposed": "Proposed",
        "age_band": "Age band",
        "sex": "Sex",
        "sex.male": "Male",
        "sex.female": "Female",
        "sex.other": "Other",
        "unknown": "Not given",
    },
}


def label(lang: str, key: str, **params: object) -> str:
    """The chart label for key in lang (zh-CN when the language is unknown)."""
    table = LABELS.get(lang) or LABELS["zh-CN"]
    text = table.get(key) or LABELS["zh-CN"].get(key) or key
    return text.format(**params) if params else text


def esc(text: object) -> str:
    """User text made safe for Plotly's HTML-like labels."""
    # Only <, > and &: Plotly shows other entities (&quot;) literally.
    return html.escape("" if text is None else str(text), quote=False)


def num(value: object) -> float | None:
    """A finite float, or None for missing, non-numeric, NaN or infinite values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def suppressed(row: Row) -> bool:
    """True when the row must not show any value."""
    return bool(row.get("suppressed"))


def value(row: Row, key: str) -> float | None:
    """The row's number under key, or None when missing or the row is suppressed."""
    return None if suppressed(row) else num(row.get(key))


def unit_label(code: object, names: Mapping[str, str] | None, row: Row | None = None) -> str:
    """Display name of a unit: the names mapping, then the row's own name, then the code."""
    code_s = "" if code is None else str(code)
    if names and code_s in names:
        return esc(names[code_s])
    if row is not None:
        for key in ("unit_name", "name"):
            if row.get(key):
                return esc(row[key])
    return esc(code_s)


def _round(v: float | None, digits: int = 1) -> float | None:
    return None if v is None else round(v, digits)


def _finish(
    fig: go.Figure,
    *,
    title: str,
    height: int | None = None,
    margin_left: int = 10,
    legend_top: bool = False,
) -> go.Figure:
    """Common layout: the small template, the title at the top left, and (legend_top) the
    legend between the title and the plot, where it never collides with axis titles."""
    fig.update_layout(
        template=TEMPLATE,
        title={
            "text": title,
            "x": 0,
            "xanchor": "left",
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": 16},
            "font": {"size": 16},
        },
        margin=_margins(fig, height=height, top=90 if legend_top else 54, left=margin_left),
        height=height,
        autosize=True,
        hoverlabel={"align": "left"},
    )
    if legend_top:
        fig.update_layout(legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"})
    return fig


# Widths of Latin characters in ems, by kind (a CJK character is one em); checked against
# Chromium's measure of every label of the demo in the charts' font: 0-8% wide.
_NARROW, _WIDE = set("ilIjtfr.,:;|!'()[] -"), set("ABCDEFGHKLNOPQRSUVXYZ%&")


def text_width(text: str, size: float = 13) -> float:
    """Rough width in pixels of one line of text in the charts' font."""
    em = 0.0
    for c in text:
        if unicodedata.east_asian_width(c) in "WF":
            em += 1.0
        elif c in _NARROW:
            em += 0.34
        elif c in _WIDE:
            em += 0.76
        elif c in "MWmw@":
            em += 0.92
        else:
            em += 0.66
    return em * size


# The width of a chart in the dashboard's two-column grid at 1280 px (wider charts only have
# room to spare).
PLOT_WIDTH = 560


def _category_labels(xs: list[str], *, plot_width: float, size: float = 13) -> tuple[float, float]:
    """Height below the axis of category labels, and how far the last one reaches right of
    the plot, as plotly.js sets them: it shows every ``dtick``-th label (about one per 1.2 font
    sizes of axis), and tilts them 30 or 90 degrees when neighbours would overlap (its
    ``autotickangles``)."""
    n = len(dict.fromkeys(xs))
    widest = max(map(text_width, xs))
    w = max(plot_width, 100.0)
    dtick = max(1, math.ceil(n / (w / round(1.2 * size))))
    gap = w * dtick / n
    line = 1.25 * size
    if widest + 2 <= gap:
        return line + 4, max(0.0, (text_width(xs[-1]) - w / n) / 2 + 6)
    upright = math.cos(math.radians(30)) > gap / math.hypot(gap, line)
    angle = math.radians(90 if upright else 30)
    # Tilted 30 degrees, a label runs down to the right from its tick.
    reach = 0.0 if upright else text_width(xs[-1]) * math.cos(angle) - w / n / 2 + 6
    return widest * math.sin(angle) + line * math.cos(angle) + 8, max(reach, 0.0)


def _margins(fig: go.Figure, *, height: int | None, top: int, left: int) -> dict[str, int]:
    """Margins wide enough for the axis labels, colour bar and legend, estimated from the
    figure's own text.

    Every axis keeps ``automargin``, but when the margins already have room plotly.js draws a
    chart once; when they are short it measures, widens them and draws it all again, which
    made drawing the dashboard's charts take about twice as long (measured in Chromium).
    Overestimating only leaves a little white space.
    """
    size = 13
    lay = fig.layout
    on_x = [t for t in fig.data if getattr(t, "xaxis", None) in (None, "x")]
    on_y = [t for t in fig.data if getattr(t, "yaxis", None) in (None, "y")]

    def labels(traces: list[Any], attr: str) -> list[str]:
        return [v for t in traces for v in (getattr(t, attr, None) or ()) if isinstance(v, str)]

    def shown(axis: Any) -> bool:
        return axis.visible is not False and axis.showticklabels is not False

    def titled(axis: Any) -> int:
        return 24 if axis.title and axis.title.text else 0

    lft = r = b = 0.0
    if shown(lay.yaxis):
        ys = labels(on_y, "y")
        lft = (max(map(text_width, ys)) if ys else 5 * 0.66 * size) + 20 + titled(lay.yaxis)
    if shown(lay.xaxis):
        xs = labels(on_x, "x")
        ticks = 20.0
        if xs:
            ticks, r = _category_labels(xs, plot_width=PLOT_WIDTH - max(lft, left) - 28)
        else:
            r = 28  # the last number on the axis sticks out to the right of the plot
        if lay.xaxis.side != "top":
            b = ticks + 12 + titled(lay.xaxis)
    for t in fig.data:
        if getattr(t, "xaxis", None) not in (None, "x") and t.x and isinstance(t.x[-1], str):
            # Category labels of a panel further right (the vote's selection columns).
            r = max(r, text_width(t.x[-1]) / 2 + 8)
        bar = getattr(t, "colorbar", None)
        if t.type == "heatmap" and t.showscale is not False:
            title = bar.title.text if bar is not None and bar.title else ""
            r = max(r, 68 + max(text_width(title or ""), 40))
    named = [t for t in fig.data if t.showlegend is not False and t.name]
    if lay.showlegend is not False and len(named) > 1 and top < 90 and lay.legend.y is None:
        # The template's legend sits below the plot, 12% of the plot's height further down.
        h = height or 450
        b = max(b, (0.12 * (h - top) + 44) / 1.12)
    return {
        "l": math.ceil(max(lft, left)),
        "r": math.ceil(max(r, 16)),
        "t": top,
        "b": math.ceil(max(b, 40)),
    }


def _empty(fig: go.Figure, lang: str) -> None:
    fig.add_annotation(
        text=label(lang, "no_data"),
        showarrow=False,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        font={"color": GREY, "size": 15},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)


def _height(count: int, per: int = 26, base: int = 140, low: int = 260, high: int = 2600) -> int:
    return max(low, min(high, base + per * count))


def _whiskers(
    values: Sequence[float | None], low: Sequence[float | None], high: Sequence[float | None]
) -> dict[str, Any]:
    """Asymmetric error bars from interval bounds (none where a bound or value is missing)."""

    def gap(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(max(a - b, 0.0), 2)

    return {
        "type": "data",
        "symmetric": False,
        "array": [gap(h, v) for v, h in zip(values, high, strict=True)],
        "arrayminus": [gap(v, lo) for v, lo in zip(values, low, strict=True)],
        "color": "#52606d",
        "thickness": 1.5,
        "width": 4,
    }


def _reason(row: Row, lang: str, k: int) -> str:
    reason = row.get("reason") or row.get("suppressed_reason")
    return esc(reason) if reason else label(lang, "too_few", k=k)


# --------------------------------------------------------------------------- ranking


def ranking(
    rows: Sequence[Row],
    *,
    lang: str = "zh-CN",
    names: Mapping[str, str] | None = None,
    min_group_size: int = 5,
    scale_max: float = 100.0,
) -> go.Figure:
    """Horizontal bars of the composite index with interval whiskers and the plausible rank
    range; suppressed units are listed greyed with the reason and carry no value.

    Rows: ``{"unit_code", "index", "ci_low", "ci_high", "rank", "rank_low", "rank_high",
    "suppressed", "n"?, "reason"?}``.
    """
    shown = [r for r in rows if not suppressed(r) and num(r.get("index")) is not None]
    hidden = [r for r in rows if suppressed(r) or num(r.get("index")) is None]
    shown.sort(key=lambda r: (num(r.get("rank")) or math.inf, -(num(r.get("index")) or 0.0)))
    fig = go.Figure()
    if not rows:
        _empty(fig, lang)
        return _finish(fig, title=label(lang, "ranking"))
    ys = [unit_label(r.get("unit_code"), names, r) for r in shown]
    idx = [_round(value(r, "index")) for r in shown]
    lo = [value(r, "ci_low") for r in shown]
    hi = [value(r, "ci_high") for r in shown]
    rank_text = []
    for r in shown:
        rank, low_r, high_r = (r.get(k) for k in ("rank", "rank_low", "rank_high"))
        span = f"{low_r}–{high_r}" if low_r is not None and high_r is not None else "?"
        rank_text.append(f"#{rank} ({span})")
    custom = [
        [
            r.get("unit_code"),
            r.get("rank"),
            r.get("rank_low"),
            r.get("rank_high"),
            lo_,
            hi_,
            r.get("n"),
        ]
        for r, lo_, hi_ in zip(shown, lo, hi, strict=True)
    ]
    fig.add_trace(
        go.Bar(
            name=label(lang, "index"),
            orientation="h",
            x=idx,
            y=ys,
            error_x=_whiskers(idx, lo, hi),
            marker={"color": BLUE},
            text=rank_text,
            textposition="inside",
            insidetextanchor="start",
            textfont={"color": "#ffffff"},
            customdata=custom,
            hovertemplate=(
                "<b>%{y}</b><br>"
                + label(lang, "index")
                + ": %{x:.1f}<br>"
                + label(lang, "interval")
                + ": %{customdata[4]:.1f} – %{customdata[5]:.1f}<br>"
                + label(lang, "rank")
                + ": %{customdata[1]}  ("
                + label(lang, "rank_range")
                + " %{customdata[2]}–%{customdata[3]})<extra></extra>"
            ),
        )
    )
    if hidden:
        reasons = [_reason(r, lang, min_group_size) for r in hidden]
        fig.add_trace(
            go.Bar(
                name=label(lang, "suppressed"),
                orientation="h",
                # A full-width ghost bar: a fixed placeholder, no value of the unit.
                x=[scale_max] * len(hidden),
                y=[unit_label(r.get("unit_code"), names, r) for r in hidden],
                marker={"color": LIGHT, "line": {"color": GREY, "width": 1}},
                text=reasons,
                textposition="inside",
                insidetextanchor="start",
                textfont={"color": "#52606d"},
                customdata=[
                    [r.get("unit_code"), None, None, None, None, None, None] for r in hidden
                ],
                hovertemplate="<b>%{y}</b><br>%{text}<extra></extra>",
                meta={"suppressed": True},
            )
        )
    fig.update_layout(barmode="overlay", showlegend=bool(hidden), bargap=0.25)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(range=[0, scale_max], title=label(lang, "index"))
    return _finish(
        fig, title=label(lang, "ranking"), height=_height(len(rows)), legend_top=bool(hidden)
    )


# --------------------------------------------------------------------------- heatmap


def heatmap(
    rows: Sequence[Row],
    *,
    lang: str = "zh-CN",
    names: Mapping[str, str] | None = None,
    dimensions: Mapping[str, str] | None = None,
    unit_order: Sequence[str] | None = None,
    min_group_size: int = 5,
) -> go.Figure:
    """Unit x dimension heatmap of shrunk scores; suppressed cells are gaps with the reason.

    Rows: indicator rows by unit and dimension,
    ``{"unit_code", "dimension", "n", "shrunk_score", "suppressed"}``.
    """
    fig = go.Figure()
    if not rows:
        _empty(fig, lang)
        return _finish(fig, title=label(lang, "heatmap"))
    units: list[str] = list(unit_order or [])
    dims: list[str] = list(dimensions or [])
    for r in rows:
        u, d = str(r.get("unit_code")), str(r.get("dimension"))
        if u not in units:
            units.append(u)
        if d not in dims:
            dims.append(d)
    cell = {(str(r.get("unit_code")), str(r.get("dimension"))): r for r in rows}
    z: list[list[float | None]] = []
    text: list[list[str]] = []
    hover: list[list[str]] = []
    for u in units:
        zr, tr, hr = [], [], []
        for d in dims:
            c = cell.get((u, d))
            v = _round(value(c, "shrunk_score")) if c is not None else None
            zr.append(v)
            tr.append("" if v is None else f"{v:.0f}")
            if c is None:
                hr.append("")
            elif suppressed(c):
                hr.append(_reason(c, lang, min_group_size))
            else:
                hr.append(f"{label(lang, 'n')}: {c.get('n')}")
        z.append(zr)
        text.append(tr)
        hover.append(hr)
    dim_names = [esc((dimensions or {}).get(d, d)) for d in dims]
    unit_names = [unit_label(u, names) for u in units]
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=dim_names,
            y=unit_names,
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            zmin=0,
            zmax=100,
            colorscale=[[0.0, "#b71c1c"], [0.5, "#fff8e1"], [1.0, "#1b5e20"]],
            colorbar={"title": {"text": label(lang, "shrunk_score")}, "thickness": 12},
            hoverongaps=False,
            xgap=1,
            ygap=1,
            hovertemplate="<b>%{y}</b> · %{x}<br>"
            + label(lang, "shrunk_score")
            + ": %{z:.1f}<br>%{customdata}<extra></extra>",
            meta={"units": list(units), "dimensions": dims},
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(side="top", type="category")
    fig.update_layout(plot_bgcolor=LIGHT)
    fig = _finish(fig, title=label(lang, "heatmap"), height=_height(len(units), per=22, base=180))
    # The dimension names sit on top, between the title and the cells.
    fig.update_layout(margin={"t": 90})
    return fig


# --------------------------------------------------------------------------- unit profile


def profile(
    unit_rows: Sequence[Row],
    district_rows: Sequence[Row],
    *,
    unit_code: str,
    lang: str = "zh-CN",
    names: Mapping[str, str] | None = None,
    dimensions: Mapping[str, str] | None = None,
    style: str = "bars",
    value_key: str = "score",
    low_key: str = "score_ci_low",
    high_key: str = "score_ci_high",
    min_group_size: int = 5,
) -> go.Figure:
    """A unit's dimension scores (with intervals) against the district average, as grouped
    bars or a radar. Rows: indicator rows by dimension for the unit and for the district."""
    title = label(lang, "profile", unit=unit_label(unit_code, names))
    fig = go.Figure()
    dims: list[str] = list(dimensions or [])
    for r in [*unit_rows, *district_rows]:
        d = str(r.get("dimension"))
        if d not in dims:
            dims.append(d)
    if not dims:
        _empty(fig, lang)
        return _finish(fig, title=title)
    mine = {str(r.get("dimension")): r for r in unit_rows}
    avg = {str(r.get("dimension")): r for r in district_rows}
    dim_names = [esc((dimensions or {}).get(d, d)) for d in dims]
    u_vals = [_round(value(mine[d], value_key)) if d in mine else None for d in dims]
    d_vals = [_round(value(avg[d], value_key)) if d in avg else None for d in dims]
    u_hover = []
    for d in dims:
        m = mine.get(d)
        if m is None:
            u_hover.append("")
        elif suppressed(m):
            u_hover.append(_reason(m, lang, min_group_size))
        else:
            u_hover.append(f"{label(lang, 'n')}: {m.get('n')}")
    unit_name = unit_label(unit_code, names)
    if style == "radar":
        closed = dim_names + dim_names[:1]
        fig.add_trace(
            go.Scatterpolar(
                r=u_vals + u_vals[:1],
                theta=closed,
                name=unit_name,
                fill="toself",
                line={"color": BLUE},
                customdata=u_hover + u_hover[:1],
                hovertemplate="%{theta}: %{r:.1f}<br>%{customdata}<extra>" + unit_name + "</extra>",
            )
        )
        fig.add_trace(
            go.Scatterpolar(
                r=d_vals + d_vals[:1],
                theta=closed,
                name=label(lang, "district_average"),
                line={"color": GREY, "dash": "dash"},
            )
        )
        fig.update_layout(polar={"radialaxis": {"range": [0, 100]}})
        return _finish(fig, title=title, height=420, legend_top=True)
    lo = [value(mine[d], low_key) if d in mine else None for d in dims]
    hi = [value(mine[d], high_key) if d in mine else None for d in dims]
    fig.add_trace(
        go.Bar(
            name=unit_name,
            x=dim_names,
            y=u_vals,
            marker={"color": BLUE},
            customdata=u_hover,
            error_y=_whiskers(u_vals, lo, hi),
            hovertemplate="%{x}: %{y:.1f}<br>%{customdata}<extra>" + unit_name + "</extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            name=label(lang, "district_average"),
            x=dim_names,
            y=d_vals,
            marker={"color": GREY},
            hovertemplate="%{x}: %{y:.1f}<extra>" + label(lang, "district_average") + "</extra>",
        )
    )
    fig.update_layout(barmode="group", bargap=0.3)
    fig.update_yaxes(range=[0, 100], title=label(lang, "score"))
    return _finish(fig, title=title, height=380, legend_top=True)


# --------------------------------------------------------------------------- trends


def trends(
    rows: Sequence[Row],
    *,
    lang: str = "zh-CN",
    names: Mapping[str, str] | None = None,
    dimensions: Mapping[str, str] | None = None,
    value_key: str = "score",
    low_key: str = "score_ci_low",
    high_key: str = "score_ci_high",
    subject: str | None = None,
) -> go.Figure:
    """Lines over time per unit and dimension, significant changes marked (up or down);
    ``subject`` (e.g. the unit's or the district's name) goes into the title.

    Rows: ``{"period", "unit_code"?, "dimension"?, "score", "n", "suppressed",
    "significant"?: bool, "change"?: float}``; a row's ``significant`` flag says that the
    change from the previous period is larger than its noise.
    """
    title = label(lang, "trends_of", subject=esc(subject)) if subject else label(lang, "trends")
    fig = go.Figure()
    if not rows:
        _empty(fig, lang)
        return _finish(fig, title=title)
    periods = sorted({str(r.get("period")) for r in rows})
    one_unit = len({r.get("unit_code") for r in rows}) == 1
    series: dict[tuple[str, str], dict[str, Row]] = {}
    for r in rows:
        key = (str(r.get("unit_code") or ""), str(r.get("dimension") or ""))
        series.setdefault(key, {})[str(r.get("period"))] = r
    ups_x, ups_y, ups_t, downs_x, downs_y, downs_t = [], [], [], [], [], []
    for (unit, dim), by_period in series.items():
        parts = [
            p
            for p in (
                unit_label(unit, names) if unit and not one_unit else "",
                esc((dimensions or {}).get(dim, dim)) if dim else "",
            )
            if p
        ]
        name = " · ".join(parts) or label(lang, "score")
        ys = [_round(value(by_period[p], value_key)) if p in by_period else None for p in periods]
        lo = [value(by_period[p], low_key) if p in by_period else None for p in periods]
        hi = [value(by_period[p], high_key) if p in by_period else None for p in periods]
        ns = [
            None if p not in by_period or suppressed(by_period[p]) else by_period[p].get("n")
            for p in periods
        ]
        fig.add_trace(
            go.Scatter(
                x=periods,
                y=ys,
                name=name,
                mode="lines+markers",
                connectgaps=False,
                customdata=[[lo_, hi_, n] for lo_, hi_, n in zip(lo, hi, ns, strict=True)],
                hovertemplate="%{x}: %{y:.1f}<br>"
                + label(lang, "interval")
                + ": %{customdata[0]:.1f} – %{customdata[1]:.1f}<br>"
                + label(lang, "n")
                + ": %{customdata[2]}<extra>"
                + name
                + "</extra>",
                meta={"unit_code": unit, "dimension": dim},
            )
        )
        for p, y in zip(periods, ys, strict=True):
            pr = by_period.get(p)
            if pr is None or y is None or suppressed(pr) or not pr.get("significant"):
                continue
            change = num(pr.get("change"))
            if change is not None and change < 0:
                downs_x.append(p)
                downs_y.append(y)
                downs_t.append(name)
            else:
                ups_x.append(p)
                ups_y.append(y)
                ups_t.append(name)
    for xs, ys_, texts, direction, color, symbol in (
        (ups_x, ups_y, ups_t, "up", GREEN, "triangle-up"),
        (downs_x, downs_y, downs_t, "down", RED, "triangle-down"),
    ):
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys_,
                    mode="markers",
                    name=label(lang, direction),
                    text=texts,
                    marker={
                        "symbol": symbol,
                        "size": 15,
                        "color": color,
                        "line": {"color": "#fff", "width": 1},
                    },
                    hovertemplate="%{text}<br>%{x}: %{y:.1f}<extra>"
                    + label(lang, direction)
                    + "</extra>",
                    meta={"significant": direction},
                )
            )
    fig.update_xaxes(type="category", title=label(lang, "period"))
    fig.update_yaxes(title=label(lang, "score"))
    fig.update_layout(hovermode="closest")
    return _finish(fig, title=title, height=420, legend_top=True)


def response_trend(rows: Sequence[Row], *, lang: str = "zh-CN") -> go.Figure:
    """Responses per period (a small bar chart for the headline). Rows: ``{"period", "n"}``."""
    fig = go.Figure()
    shown = sorted(rows, key=lambda r: str(r.get("period")))
    if not shown:
        _empty(fig, lang)
    else:
        fig.add_trace(
            go.Bar(
                x=[str(r.get("period")) for r in shown],
                y=[value(r, "n") for r in shown],
                marker={"color": BLUE},
                name=label(lang, "responses"),
                hovertemplate="%{x}: %{y:,}<extra></extra>",
            )
        )
        fig.update_xaxes(type="category")
    fig = _finish(fig, title=label(lang, "response_trend"), height=220)
    fig.update_layout(margin={"t": 36, "b": 30}, showlegend=False)
    return fig


# --------------------------------------------------------------------------- breakdown


def _group_label(key: str, v: object, lang: str, names: Mapping[str, str] | None) -> str:
    if v is None or v == "":
        return label(lang, "unknown")
    if key == "sex":
        return label(lang, f"sex.{v}") if f"sex.{v}" in LABELS["en"] else esc(v)
    if key in ("area_code", "area"):
        return unit_label(v, names)
    return esc(v)


def breakdown(
    rows: Sequence[Row],
    *,
    by: Sequence[str] = ("area_code",),
    lang: str = "zh-CN",
    names: Mapping[str, str] | None = None,
    title: str | None = None,
    value_key: str = "score",
    low_key: str = "score_ci_low",
    high_key: str = "score_ci_high",
    min_group_size: int = 5,
) -> go.Figure:
    """Scores by one grouping (e.g. area) as bars, or by two (e.g. age band x sex) as grouped
    bars, with interval whiskers; suppressed groups are listed with the reason, no value.

    Rows: indicator rows carrying the ``by`` keys (``area_code``, ``age_band``, ``sex`` ...).
    """
    key1 = by[0]
    key2 = by[1] if len(by) > 1 else None
    fig = go.Figure()
    default_title = label(
        lang, "breakdown_area" if key1 in ("area_code", "area") else "breakdown_profile"
    )
    if not rows:
        _empty(fig, lang)
        return _finish(fig, title=title or default_title)
    xs: list[str] = []
    for r in sorted(rows, key=lambda r: str(r.get(key1) or "~")):
        x = _group_label(key1, r.get(key1), lang, names)
        if x not in xs:
            xs.append(x)
    groups: dict[str, list[Row]] = {}
    for r in rows:
        g = _group_label(key2, r.get(key2), lang, names) if key2 else label(lang, "score")
        groups.setdefault(g, []).append(r)
    hidden_x: list[str] = []
    hidden_t: list[str] = []
    for g in sorted(groups):
        by_x = {_group_label(key1, r.get(key1), lang, names): r for r in groups[g]}
        ys = [_round(value(by_x[x], value_key)) if x in by_x else None for x in xs]
        lo = [value(by_x[x], low_key) if x in by_x else None for x in xs]
        hi = [value(by_x[x], high_key) if x in by_x else None for x in xs]
        for x in xs:
            if x in by_x and suppressed(by_x[x]):
                hidden_x.append(x if not key2 else f"{x} · {g}")
                hidden_t.append(_reason(by_x[x], lang, min_group_size))
        fig.add_trace(
            go.Bar(
                name=g,
                x=xs,
                y=ys,
                error_y=_whiskers(ys, lo, hi),
                customdata=[
                    by_x[x].get("n") if x in by_x and not suppressed(by_x[x]) else None for x in xs
                ],
                hovertemplate="%{x}: %{y:.1f}<br>"
                + label(lang, "n")
                + ": %{customdata}<extra>"
                + g
                + "</extra>",
            )
        )
    if hidden_x:
        fig.add_annotation(
            text=label(lang, "suppressed")
            + ": "
            + "; ".join(hidden_x[:8])
            + ("…" if len(hidden_x) > 8 else ""),
            hovertext="<br>".join(f"{x}: {t}" for x, t in zip(hidden_x, hidden_t, strict=True)),
            showarrow=False,
            xref="paper",
            yref="paper",
            x=0,
            y=1.02,
            xanchor="left",
            yanchor="bottom",
            font={"color": GREY, "size": 12},
        )
    fig.update_layout(barmode="group", showlegend=key2 is not None, bargap=0.25)
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 100], title=label(lang, "score"))
    return _finish(fig, title=title or default_title, height=380, legend_top=key2 is not None)


# --------------------------------------------------------------------------- comments


def sentiment(
    rows: Sequence[Row],
    *,
    lang: str = "zh-CN",
    names: Mapping[str, str] | None = None,
    min_group_size: int = 5,
) -> go.Figure:
    """Share of positive, neutral and negative comments per unit (stacked to 100%), with the
    negative share's interval in the hover; suppressed units are listed greyed.

    Rows: ``{"unit_code", "n", "positive", "neutral", "negative", "negative_ci_low"?,
    "negative_ci_high"?, "suppressed"}``; the three shares are fractions of ``n``.
    """
    fig = go.Figure()
    if not rows:
        _empty(fig, lang)
        return _finish(fig, title=label(lang, "sentiment"))
    shown = [r for r in rows if not suppressed(r)]
    hidden = [r for r in rows if suppressed(r)]
    shown.sort(key=lambda r: -(num(r.get("negative")) or 0.0))
    ys = [unit_label(r.get("unit_code"), names, r) for r in shown]
    ci = [
        [
            r.get("n"),
            _round(_pct(value(r, "negative_ci_low"))),
            _round(_pct(value(r, "negative_ci_high"))),
        ]
        for r in shown
    ]
    for key, color in (("negative", RED), ("neutral", GREY), ("positive", GREEN)):
        fig.add_trace(
            go.Bar(
                name=label(lang, key),
                orientation="h",
                y=ys,
                x=[_round(_pct(value(r, key))) for r in shown],
                marker={"color": color},
                customdata=ci,
                hovertemplate=(
                    "<b>%{y}</b><br>"
                    + label(lang, key)
                    + ": %{x:.1f}%"
                    + (
                        " ("
                        + label(lang, "interval")
                        + " %{customdata[1]:.1f}–%{customdata[2]:.1f}%)"
                        if key == "negative"
                        else ""
                    )
                    + "<br>"
                    + label(lang, "n")
                    + ": %{customdata[0]}<extra></extra>"
                ),
            )
        )
    if hidden:
        fig.add_trace(
            go.Bar(
                name=label(lang, "suppressed"),
                orientation="h",
                y=[unit_label(r.get("unit_code"), names, r) for r in hidden],
                x=[100.0] * len(hidden),
                marker={"color": LIGHT, "line": {"color": GREY, "width": 1}},
                text=[_reason(r, lang, min_group_size) for r in hidden],
                textposition="inside",
                insidetextanchor="start",
                textfont={"color": "#52606d"},
                hovertemplate="<b>%{y}</b><br>%{text}<extra></extra>",
                meta={"suppressed": True},
            )
        )
    fig.update_layout(barmode="stack", bargap=0.3)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(range=[0, 100], title=label(lang, "share") + " (%)")
    return _finish(
        fig, title=label(lang, "sentiment"), height=_height(len(rows), per=24), legend_top=True
    )


def _pct(v: float | None) -> float | None:
    return None if v is None else 100.0 * v


def themes(
    rows: Sequence[Row],
    *,
    lang: str = "zh-CN",
    names: Mapping[str, str] | None = None,
    unit_code: str | None = None,
    top: int = 10,
) -> go.Figure:
    """The most negative themes (keywords) of the comments, most mentioned first; for one unit
    when ``unit_code`` is given. Rows: ``{"unit_code"?, "theme", "negative", "count",
    "negative_share"?, "suppressed"?}`` where ``negative`` counts negative comments."""
    title = (
        label(lang, "themes_unit", n=top, unit=unit_label(unit_code, names))
        if unit_code
        else label(lang, "themes", n=top)
    )
    fig = go.Figure()
    use = [
        r
        for r in rows
        if not suppressed(r)
        and (num(r.get("negative")) or 0) > 0
        and (unit_code is None or r.get("unit_code") in (None, unit_code))
    ]
    use.sort(
        key=lambda r: (-(num(r.get("negative")) or 0.0), -(num(r.get("negative_share")) or 0.0))
    )
    use = use[:top]
    if not use:
        _empty(fig, lang)
        return _finish(fig, title=title, height=260)
    fig.add_trace(
        go.Bar(
            orientation="h",
            y=[esc(r.get("theme") or r.get("keyword")) for r in use],
            x=[num(r.get("negative")) for r in use],
            marker={"color": RED},
            name=label(lang, "mentions"),
            customdata=[[_round(_pct(num(r.get("negative_share")))), r.get("count")] for r in use],
            hovertemplate="<b>%{y}</b><br>"
            + label(lang, "mentions")
            + ": %{x}<br>"
            + label(lang, "negative_share")
            + ": %{customdata[0]:.0f}%<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title=label(lang, "mentions"))
    fig.update_layout(showlegend=False)
    return _finish(fig, title=title, height=_height(len(use), per=28, low=240))


# --------------------------------------------------------------------------- the vote


def _project_title(p: Row, lang: str) -> str:
    title = (
        (p.get("title_en") if lang == "en" else None) or p.get("title") or f"#{p.get('project_id')}"
    )
    return esc(title)


def _equal_shares_selected(results: Row) -> set[Any]:
    es = results.get("equal_shares") or {}
    chosen = es.get("selected") if isinstance(es, Mapping) else None
    if chosen is None and isinstance(es, Mapping):
        chosen = es.get("selected_ids") or es.get("project_ids")
    out: set[Any] = set()
    for c in chosen or []:
        out.add(c.get("project_id") if isinstance(c, Mapping) else c)
    for p in results.get("projects", []):
        if p.get("selected_equal_shares"):
            out.add(p.get("project_id"))
    return out


def threshold_votes(results: Row) -> int | None:
    """The number of "for" votes a project needs, from the results or the rule's inputs."""
    t = num(results.get("threshold_votes"))
    if t is not None:
        return int(t)
    electorate = num(results.get("electorate"))
    rule = results.get("threshold", "majority_of_all")
    if rule == "majority_of_all" and electorate is not None:
        return int(electorate) // 2 + 1
    if isinstance(rule, Mapping):
        if "min_votes" in rule:
            return int(rule["min_votes"])
        if "fraction" in rule and electorate is not None:
            return math.ceil(float(rule["fraction"]) * electorate)
    return None


def vote(results: Row, *, lang: str = "zh-CN", unit: float = 10_000.0) -> go.Figure:
    """The deputies' vote: for / against / abstain per project with the pass line, selected
    projects highlighted, each project's budget stacked on what was selected before it
    against the cap, and the default rule's selection beside the Method of Equal Shares.

    ``results``: the voting results contract, whose projects also carry ``title``,
    ``title_en`` and ``budget``; plus ``budget_cap`` and ``threshold_votes`` (or ``electorate``
    and ``threshold``).
    """
    projects = list(results.get("projects") or [])
    if not projects:
        fig = go.Figure()
        _empty(fig, lang)
        return _finish(fig, title=label(lang, "vote"))
    projects.sort(
        key=lambda p: (
            p.get("rank") is None,
            num(p.get("rank")) or 0,
            -(num(p.get("for")) or 0),
            num(p.get("against")) or 0,
            str(p.get("project_id")),
        )
    )
    ys = [_project_title(p, lang) for p in projects]
    # Duplicate titles would merge categories; keep them apart with the id.
    if len(set(ys)) != len(ys):
        ys = [f"{y} (#{p.get('project_id')})" for y, p in zip(ys, projects, strict=True)]
    selected = [bool(p.get("selected")) for p in projects]
    threshold = threshold_votes(results)
    cap = num(results.get("budget_cap"))
    votes_title = label(lang, "votes")
    if threshold is not None:
        votes_title += " · " + label(lang, "threshold", v=threshold)
    budget_title = label(lang, "cumulative_budget")
    if cap is not None:
        budget_title += f" · {label(lang, 'budget_cap')} {cap / unit:,.0f}"
    fig = make_subplots(
        rows=1,
        cols=3,
        shared_yaxes=True,
        column_widths=[0.48, 0.32, 0.2],
        horizontal_spacing=0.05,
        subplot_titles=(votes_title, budget_title, label(lang, "outcome")),
    )
    sel_text = [label(lang, "selected") if s else "" for s in selected]
    fig.add_trace(
        go.Bar(
            name=label(lang, "for"),
            orientation="h",
            y=ys,
            x=[num(p.get("for")) for p in projects],
            marker={
                "color": [GREEN if s else "#a5d6a7" for s in selected],
                "line": {
                    "color": ["#1b5e20" if s else "rgba(0,0,0,0)" for s in selected],
                    "width": 2,
                },
            },
            text=sel_text,
            textposition="inside",
            insidetextanchor="start",
            customdata=[
                [p.get("project_id"), p.get("rank"), bool(p.get("passed"))] for p in projects
            ],
            hovertemplate="<b>%{y}</b><br>" + label(lang, "for") + ": %{x}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    for key, color in (("against", RED), ("abstain", GREY)):
        fig.add_trace(
            go.Bar(
                name=label(lang, key),
                orientation="h",
                y=ys,
                x=[num(p.get(key)) for p in projects],
                marker={"color": color},
                hovertemplate="<b>%{y}</b><br>" + label(lang, key) + ": %{x}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    if threshold is not None:
        fig.add_vline(
            x=threshold,
            line={"color": "#1f2933", "dash": "dash", "width": 2},
            row=1,
            col=1,
        )
    # Budget: each project drawn from the total selected before it, so the cap line shows
    # which projects fit and which were skipped.
    bases, widths, colors = [], [], []
    running = 0.0
    for p, s in zip(projects, selected, strict=True):
        budget = (num(p.get("budget")) or 0.0) / unit
        bases.append(round(running, 2))
        widths.append(round(budget, 2))
        colors.append(BLUE if s else LIGHT)
        if s:
            running += budget
    fig.add_trace(
        go.Bar(
            name=label(lang, "budget"),
            orientation="h",
            y=ys,
            x=widths,
            base=bases,
            marker={"color": colors, "line": {"color": GREY, "width": 1}},
            showlegend=False,
            hovertemplate="<b>%{y}</b><br>"
            + label(lang, "budget")
            + ": %{x:,.0f}<br>"
            + label(lang, "cumulative_budget")
            + ": %{base:,.0f} → %{customdata:,.0f}<extra></extra>",
            customdata=[round(b + w, 2) for b, w in zip(bases, widths, strict=True)],
        ),
        row=1,
        col=2,
    )
    if cap is not None:
        fig.add_vline(x=cap / unit, line={"color": RED, "width": 2}, row=1, col=2)
    mes = _equal_shares_selected(results)
    cols = [label(lang, "default_rule"), label(lang, "equal_shares")]
    for col_name, chosen in (
        (cols[0], selected),
        (cols[1], [p.get("project_id") in mes for p in projects]),
    ):
        fig.add_trace(
            go.Scatter(
                x=[col_name] * len(projects),
                y=ys,
                mode="markers",
                marker={
                    "symbol": ["circle" if c else "circle-open" for c in chosen],
                    "size": 14,
                    "color": [GREEN if c else GREY for c in chosen],
                },
                showlegend=False,
                customdata=[
                    label(lang, "selected") if c else label(lang, "not_selected") for c in chosen
                ],
                hovertemplate="<b>%{y}</b><br>%{x}: %{customdata}<extra></extra>",
                meta={"rule": "default" if col_name == cols[0] else "equal_shares"},
            ),
            row=1,
            col=3,
        )
    fig.update_layout(barmode="stack", bargap=0.3, legend={"traceorder": "normal"})
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", row=1, col=3)
    fig.update_annotations(font={"size": 13})  # the subplot titles
    lines = wrap(str(results.get("rule") or ""))
    title = label(lang, "vote") + "".join(f"<br><sup>{esc(line)}</sup>" for line in lines)
    fig = _finish(
        fig, title=title, height=_height(len(projects), per=30, base=220 + 16 * len(lines))
    )
    fig.update_layout(margin={"t": 80 + 17 * len(lines)})
    return fig


def wrap(text: str, width: int = 110) -> list[str]:
    """Lines of at most about width columns (a CJK character takes two)."""

    def cols(chars: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in chars)

    lines: list[str] = []
    line = ""
    for token in re.findall(r"\S+\s*|\s+", text):
        if cols(token) > width:  # a long run of CJK text: break it between characters
            for ch in token:
                if cols(line + ch) > width:
                    lines.append(line.rstrip())
                    line = ""
                line += ch
        elif cols(line + token.rstrip()) > width and line:
            lines.append(line.rstrip())
            line = token
        else:
            line += token
    if line.strip():
        lines.append(line.rstrip())
    return lines


def tracker(rows: Sequence[Row], *, lang: str = "zh-CN") -> go.Figure:
    """Progress of the selected projects (percent done), coloured by status.

    Rows: ``{"project_id", "title", "title_en"?, "status", "percent_done", "note"?,
    "updated_on"?}``.
    """
    fig = go.Figure()
    if not rows:
        _empty(fig, lang)
        return _finish(fig, title=label(lang, "tracker"))
    shown = sorted(
        rows, key=lambda r: (-(num(r.get("percent_done")) or 0.0), str(r.get("project_id")))
    )
    ys = [_project_title(r, lang) for r in shown]
    if len(set(ys)) != len(ys):
        ys = [f"{y} (#{r.get('project_id')})" for y, r in zip(ys, shown, strict=True)]
    pct = [num(r.get("percent_done")) or 0.0 for r in shown]
    status_color = {"completed": GREEN, "in_progress": BLUE, "selected": AMBER}
    fig.add_trace(
        go.Bar(
            orientation="h",
            y=ys,
            x=pct,
            marker={"color": [status_color.get(str(r.get("status")), GREY) for r in shown]},
            text=[f"{p:.0f}%" for p in pct],
            textposition="outside",
            customdata=[
                [
                    label(lang, f"status.{r.get('status')}"),
                    esc(r.get("note") or ""),
                    esc(r.get("updated_on") or ""),
                ]
                for r in shown
            ],
            hovertemplate="<b>%{y}</b><br>%{customdata[0]}: %{x:.0f}%<br>%{customdata[2]} %{customdata[1]}<extra></extra>",
            name=label(lang, "percent_done"),
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(range=[0, 110], title=label(lang, "percent_done"))
    fig.update_layout(showlegend=False)
    return _finish(fig, title=label(lang, "tracker"), height=_height(len(rows), per=30))
