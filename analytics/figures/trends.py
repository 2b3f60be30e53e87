"""Charts over time: scores per period with significant changes, responses per period."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from analytics.figures.common import (
    BLUE,
    GREEN,
    GREY,
    RED,
    Row,
    _empty,
    _finish,
    _reason,
    _round,
    esc,
    label,
    num,
    suppressed,
    unit_label,
    value,
)

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


def response_trend(
    rows: Sequence[Row], *, lang: str = "zh-CN", min_group_size: int = 5
) -> go.Figure:
    """Responses per period (a small bar chart for the headline). Rows: ``{"period", "n",
    "suppressed"}``; a hidden period is marked, not drawn as zero."""
    fig = go.Figure()
    ordered = sorted(rows, key=lambda r: str(r.get("period")))
    shown = [r for r in ordered if not suppressed(r)]
    hidden = [r for r in ordered if suppressed(r)]
    if not ordered:
        _empty(fig, lang)
    elif not shown:
        # Every period hidden: say why once, rather than a row of empty marks.
        _empty(fig, lang, _reason(hidden[0], lang, min_group_size))
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
        if hidden:
            fig.add_trace(
                go.Scatter(
                    x=[str(r.get("period")) for r in hidden],
                    y=[0] * len(hidden),
                    mode="markers",
                    marker={"symbol": "x-thin-open", "size": 9, "color": GREY},
                    name=label(lang, "suppressed"),
                    text=[_reason(r, lang, min_group_size) for r in hidden],
                    hovertemplate="%{x}: %{text}<extra></extra>",
                )
            )
        fig.update_xaxes(
            type="category",
            categoryorder="array",
            categoryarray=[str(r.get("period")) for r in ordered],
        )
    fig = _finish(fig, title=label(lang, "response_trend"), height=220)
    fig.update_layout(margin={"t": 36, "b": 30}, showlegend=False)
    return fig
