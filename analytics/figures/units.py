"""Charts comparing units: the ranking, the heatmap of dimensions, one unit's profile."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from analytics.figures.common import (
    BLUE,
    GREY,
    LIGHT,
    Row,
    _empty,
    _finish,
    _height,
    _reason,
    _round,
    _whiskers,
    esc,
    label,
    num,
    suppressed,
    unit_label,
    value,
)

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
