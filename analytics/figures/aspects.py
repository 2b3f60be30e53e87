"""Charts of complaints per dimension: the negative share of the comments speaking of each
dimension with its interval, and how it moves month by month with the trends' alerts.

Rows are those of ``analytics.comments.aspect_shares`` (``rows``, ``months``, ``changes``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from analytics.figures.common import (
    AMBER,
    BLUE,
    GREEN,
    GREY,
    LIGHT,
    RED,
    Row,
    _empty,
    _finish,
    _height,
    _round,
    _whiskers,
    esc,
    label,
    num,
    suppressed,
)


def _pct(v: object) -> float | None:
    x = num(v)
    return None if x is None else _round(100.0 * x)


def aspect_shares(
    rows: Sequence[Row],
    *,
    lang: str = "zh-CN",
    dimensions: Mapping[str, str] | None = None,
    min_group_size: int = 5,
    empty: str | None = None,
) -> go.Figure:
    """Negative share per dimension (bars, the most complained-of first) with 95% Wilson
    whiskers; suppressed dimensions listed greyed with the reason. ``empty``: what to say
    when there is nothing to draw (why), instead of "no data"."""
    fig = go.Figure()
    title = label(lang, "aspect_shares")
    if not rows:
        _empty(fig, lang, empty)
        return _finish(fig, title=title, height=260)
    dims = dimensions or {}
    shown = sorted(
        (r for r in rows if not suppressed(r)), key=lambda r: -(num(r.get("negative_share")) or 0)
    )
    hidden = [r for r in rows if suppressed(r)]
    names = [esc(dims.get(str(r["aspect"]), r["aspect"])) for r in shown]
    xs = [_pct(r.get("negative_share")) for r in shown]
    if shown:
        fig.add_trace(
            go.Bar(
                orientation="h",
                y=names,
                x=xs,
                name=label(lang, "negative_share"),
                marker={"color": RED},
                error_x=_whiskers(
                    xs,
                    [_pct(r.get("ci_low")) for r in shown],
                    [_pct(r.get("ci_high")) for r in shown],
                ),
                customdata=[
                    [
                        _pct(r.get("ci_low")),
                        _pct(r.get("ci_high")),
                        r.get("negative"),
                        r["comments"],
                    ]
                    for r in shown
                ],
                hovertemplate="<b>%{y}</b><br>"
                + label(lang, "negative_share")
                + ": %{x:.1f}% ("
                + label(lang, "interval")
                + " %{customdata[0]:.1f}–%{customdata[1]:.1f}%)<br>"
                + label(lang, "aspect_counts")
                + ": %{customdata[2]} / %{customdata[3]}<extra></extra>",
            )
        )
    if hidden:
        fig.add_trace(
            go.Bar(
                orientation="h",
                y=[esc(dims.get(str(r["aspect"]), r["aspect"])) for r in hidden],
                x=[100.0] * len(hidden),
                name=label(lang, "suppressed"),
                marker={"color": LIGHT, "line": {"color": GREY, "width": 1}},
                text=[label(lang, "aspect_too_few", k=min_group_size)] * len(hidden),
                textposition="inside",
                insidetextanchor="start",
                textfont={"color": "#52606d"},
                hovertemplate="<b>%{y}</b><br>%{text}<extra></extra>",
                meta={"suppressed": True},
            )
        )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(range=[0, 100], title=label(lang, "negative_share") + " (%)")
    fig.update_layout(showlegend=bool(hidden), barmode="overlay")
    return _finish(fig, title=title, height=_height(len(rows), per=30, low=260), legend_top=True)


def aspect_trends(
    months: Sequence[Row],
    changes: Sequence[Row],
    *,
    lang: str = "zh-CN",
    dimensions: Mapping[str, str] | None = None,
    empty: str | None = None,
) -> go.Figure:
    """Monthly negative share of each dimension (one line each), with a marker where the
    change from the month before is an alert (the trends' rule)."""
    fig = go.Figure()
    title = label(lang, "aspect_trends")
    shown = [r for r in months if not suppressed(r)]
    if not shown:
        _empty(fig, lang, empty)
        return _finish(fig, title=title, height=260)
    dims = dimensions or {}
    periods = sorted({str(r["month"]) for r in months})
    series: dict[str, dict[str, Row]] = {}
    for r in months:
        series.setdefault(str(r["aspect"]), {})[str(r["month"])] = r
    for aspect, by_month in sorted(series.items()):
        name = esc(dims.get(aspect, aspect))
        ys = [
            None
            if p not in by_month or suppressed(by_month[p])
            else _pct(by_month[p].get("negative_share"))
            for p in periods
        ]
        if all(y is None for y in ys):
            continue
        fig.add_trace(
            go.Scatter(
                x=periods,
                y=ys,
                name=name,
                mode="lines+markers",
                connectgaps=False,
                hovertemplate="%{x}: %{y:.1f}%<extra>" + name + "</extra>",
                meta={"aspect": aspect},
            )
        )
    for direction, color, symbol in (("up", RED, "triangle-up"), ("down", GREEN, "triangle-down")):
        hits = [c for c in changes if c.get("alert") and c.get("direction") == direction]
        if not hits:
            continue
        fig.add_trace(
            go.Scatter(
                x=[c["to"] for c in hits],
                y=[_pct(c.get("share_to")) for c in hits],
                mode="markers",
                name=label(lang, "aspect_alert_" + direction),
                text=[esc(dims.get(str(c["aspect"]), c["aspect"])) for c in hits],
                marker={
                    "symbol": symbol,
                    "size": 15,
                    "color": color,
                    "line": {"color": "#fff", "width": 1},
                },
                hovertemplate="%{text}<br>%{x}: %{y:.1f}%<extra>"
                + label(lang, "aspect_alert_" + direction)
                + "</extra>",
                meta={"alert": direction},
            )
        )
    fig.update_xaxes(type="category", title=label(lang, "period"))
    fig.update_yaxes(title=label(lang, "negative_share") + " (%)", rangemode="tozero")
    fig.update_layout(hovermode="closest", colorway=[BLUE, AMBER, "#6a1b9a", "#00838f", "#5d4037"])
    return _finish(fig, title=title, height=400, legend_top=True)
