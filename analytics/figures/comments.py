"""Charts of residents' comments: sentiment shares per unit and the negative themes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from analytics.figures.common import (
    GREEN,
    GREY,
    LIGHT,
    RED,
    Row,
    _empty,
    _finish,
    _height,
    _reason,
    _round,
    esc,
    label,
    num,
    suppressed,
    unit_label,
    value,
)

# --------------------------------------------------------------------------- comments


def sentiment(
    rows: Sequence[Row],
    *,
    lang: str = "zh-CN",
    names: Mapping[str, str] | None = None,
    min_group_size: int = 5,
    empty: str | None = None,
) -> go.Figure:
    """Share of positive, neutral and negative comments per unit (stacked to 100%), with the
    negative share's interval in the hover; suppressed units are listed greyed. ``empty``:
    why there is nothing to draw, said instead of "no data".

    Rows: ``{"unit_code", "n", "positive", "neutral", "negative", "negative_ci_low"?,
    "negative_ci_high"?, "suppressed"}``; the three shares are fractions of ``n``.
    """
    fig = go.Figure()
    if not rows:
        _empty(fig, lang, empty)
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
    empty: str | None = None,
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
        _empty(fig, lang, empty)
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
