"""The distribution of answers: 100% stacked bars of every scale point, per unit for one
question or per question for one unit (or the district), coloured from red (the bottom of
the scale) through grey (its middle) to green (its top), with the top-two share written at
the end of each bar."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from analytics.figures.common import (
    GREY,
    LIGHT,
    Row,
    _empty,
    _finish,
    _height,
    _reason,
    esc,
    label,
    num,
    suppressed,
    unit_label,
)

_LOW, _MID, _HIGH = (198, 40, 40), (207, 214, 221), (46, 125, 50)


def _mix(t: float) -> str:
    """The diverging colour at t in 0..1: red, grey at 0.5, green."""
    t = min(max(t, 0.0), 1.0)
    a, b, f = (_LOW, _MID, t / 0.5) if t < 0.5 else (_MID, _HIGH, (t - 0.5) / 0.5)
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(a, b, strict=True))


def _tone(row: Row, v: float) -> float:
    """Where a scale point sits between bad (0) and good (1). NPS: detractors 0-6 in reds,
    passives 7-8 grey, promoters 9-10 in greens; a rating scale runs evenly."""
    if row.get("type") == "nps":
        return 0.5 if 7 <= v <= 8 else (0.75 + (v - 9) * 0.25 if v >= 9 else v / 6 * 0.35)
    lo, hi = num(row.get("scale_min")), num(row.get("scale_max"))
    if lo is None or hi is None or hi <= lo:
        return 0.5
    return (v - lo) / (hi - lo)


def distribution(
    rows: Sequence[Row],
    *,
    lang: str = "zh-CN",
    names: Mapping[str, str] | None = None,
    question_labels: Mapping[str, str] | None = None,
    question: str | None = None,
    unit_code: str | None = None,
    min_group_size: int = 5,
) -> go.Figure:
    """Stacked bars of the share of each scale point (rows of ``/distribution``).

    With ``unit_code``, or rows without units (district-wide), one bar per question; else one
    bar per unit for ``question`` (the first question when not given). Suppressed rows show a
    grey bar with the reason and no value."""
    qname = dict(question_labels or {})

    def qlabel(key: object) -> str:
        return esc(qname.get(str(key), str(key)))

    per_question = unit_code is not None or all(r.get("unit_code") is None for r in rows)
    if per_question:
        use = [r for r in rows if unit_code is None or r.get("unit_code") == unit_code]
        subject = unit_label(unit_code, names) if unit_code else label(lang, "district")
    else:
        keys = sorted({str(r.get("question")) for r in rows})
        question = question if question in keys else (keys[0] if keys else None)
        use = [r for r in rows if r.get("question") == question]
        subject = qlabel(question)
    title = label(lang, "distribution", subject=subject)
    fig = go.Figure()
    if not use:
        _empty(fig, lang)
        return _finish(fig, title=title)

    def name(r: Row) -> str:
        return (
            qlabel(r.get("question")) if per_question else unit_label(r.get("unit_code"), names, r)
        )

    shown = [r for r in use if not suppressed(r)]
    hidden = [r for r in use if suppressed(r)]
    if not per_question:
        shown.sort(key=lambda r: -(num(r.get("top_share")) or 0.0))
    values = sorted({float(p["value"]) for r in shown for p in r.get("points") or ()})
    ys = [name(r) for r in shown]
    for v in values:
        xs: list[float | None] = []
        colors: list[str] = []
        data: list[list[Any]] = []
        for r in shown:
            point = next((p for p in r.get("points") or () if float(p["value"]) == v), None)
            share = num(point.get("share")) if point else None
            xs.append(None if share is None else round(100 * share, 1))
            colors.append(_mix(_tone(r, v)))
            data.append([point.get("count") if point else None])
        fig.add_trace(
            go.Bar(
                name=f"{v:g}",
                orientation="h",
                y=ys,
                x=xs,
                marker={"color": colors, "line": {"color": "#ffffff", "width": 0.5}},
                text=[f"{v:g}" if (x or 0) >= 7 else "" for x in xs],
                textposition="inside",
                insidetextanchor="middle",
                customdata=data,
                showlegend=False,
                hovertemplate="<b>%{y}</b><br>"
                + label(lang, "answer")
                + f" {v:g}: "
                + "%{x:.1f}%<br>"
                + label(lang, "n")
                + ": %{customdata[0]}<extra></extra>",
            )
        )
    for r, y in zip(shown, ys, strict=True):
        top = num(r.get("top_share"))
        if top is None:
            continue
        fig.add_annotation(
            x=101,
            y=y,
            xanchor="left",
            showarrow=False,
            text=f"{100 * top:.0f}%",
            font={"size": 12, "color": "#1f2933"},
        )
    if hidden:
        fig.add_trace(
            go.Bar(
                name=label(lang, "suppressed"),
                orientation="h",
                y=[name(r) for r in hidden],
                x=[100.0] * len(hidden),
                marker={"color": LIGHT, "line": {"color": GREY, "width": 1}},
                text=[_reason(r, lang, min_group_size) for r in hidden],
                textposition="inside",
                insidetextanchor="start",
                textfont={"color": "#52606d"},
                showlegend=False,
                hovertemplate="<b>%{y}</b><br>%{text}<extra></extra>",
                meta={"suppressed": True},
            )
        )
    fig.update_layout(barmode="stack", bargap=0.3)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(
        range=[0, 112],
        tickvals=[0, 25, 50, 75, 100],
        title=label(lang, "share") + " (%) · " + label(lang, "top_two_note"),
    )
    return _finish(fig, title=title, height=_height(len(use), per=28))
