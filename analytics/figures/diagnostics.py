"""Method diagnostics: reliability of the dimensions and sensitivity of the composite."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analytics.figures.common import (
    AMBER,
    BLUE,
    GREEN,
    GREY,
    LIGHT,
    PLOT_WIDTH,
    RED,
    Row,
    _category_labels,
    _empty,
    _finish,
    _height,
    _whiskers,
    esc,
    label,
    num,
    unit_label,
    value,
)

# Cronbach's alpha from which a scale is usually read as consistent.
ALPHA_REFERENCE = 0.7
# Gap between the alpha panel and the correlation heatmap (share of the plot width).
SPACING = 0.16
# Marker colour and legend label key of each kind of scenario.
SCENARIO_STYLE = {
    "equal_weights": (GREEN, "sens_equal"),
    "drop": (GREY, "sens_drop"),
    "zscore": (AMBER, "sens_zscore"),
    "minmax": (RED, "sens_minmax"),
    "borda": ("#6a1b9a", "sens_borda"),
}


def reliability(
    rows: Sequence[Row],
    *,
    lang: str = "zh-CN",
    dimensions: Mapping[str, str] | None = None,
) -> go.Figure:
    """Left: Cronbach's alpha per dimension with its interval and the 0.7 reference line;
    right: the correlations of the composite's dimensions as a heatmap. Withheld figures
    (suppressed, or too few respondents) show as a note, never as a value.

    Rows: ``{"kind": "alpha", "dimension", "alpha", "alpha_ci_low", "alpha_ci_high"}`` and
    ``{"kind": "correlation", "dimension_a", "dimension_b", "r", "n"}``, each with
    ``suppressed``.
    """
    title = label(lang, "reliability")

    def name(d: object) -> str:
        return esc((dimensions or {}).get(str(d), str(d)))

    alphas = [r for r in rows if r.get("kind") == "alpha"]
    corr = [r for r in rows if r.get("kind") == "correlation"]
    if not alphas and not corr:
        fig = go.Figure()
        _empty(fig, lang)
        return _finish(fig, title=title)
    dims = list(dict.fromkeys(str(r.get(k)) for r in corr for k in ("dimension_a", "dimension_b")))
    # One panel per part that has rows: a campaign of one question per dimension has no alpha.
    parts = [p for p, rows_ in (("alpha", alphas), ("correlation", dims)) if rows_]
    two = len(parts) == 2
    fig = make_subplots(
        rows=1,
        cols=len(parts),
        column_widths=[0.45, 0.55] if two else None,
        horizontal_spacing=SPACING,
        subplot_titles=[label(lang, p) for p in parts],
    )
    heat_col = len(parts)
    shown = [r for r in alphas if value(r, "alpha") is not None]
    withheld = [r for r in alphas if value(r, "alpha") is None]
    if shown:
        xs = [name(r.get("dimension")) for r in shown]
        ys = [value(r, "alpha") for r in shown]
        fig.add_trace(
            go.Bar(
                x=xs,
                y=ys,
                marker={"color": [BLUE if (y or 0) >= ALPHA_REFERENCE else AMBER for y in ys]},
                error_y=_whiskers(
                    ys,
                    [value(r, "alpha_ci_low") for r in shown],
                    [value(r, "alpha_ci_high") for r in shown],
                ),
                customdata=[[r.get("n"), r.get("items")] for r in shown],
                hovertemplate="<b>%{x}</b><br>alpha %{y:.2f}<br>"
                + label(lang, "n")
                + " %{customdata[0]}<extra></extra>",
                showlegend=False,
            ),
            row=1,
            col=1,
        )
    if withheld:
        fig.add_trace(
            go.Scatter(
                x=[name(r.get("dimension")) for r in withheld],
                y=[0.05] * len(withheld),
                mode="text",
                text=[label(lang, "suppressed")] * len(withheld),
                textfont={"color": GREY},
                hoverinfo="skip",
                showlegend=False,
            ),
            row=1,
            col=1,
        )
    if alphas:
        fig.add_hline(
            y=ALPHA_REFERENCE, line={"color": RED, "width": 1, "dash": "dash"}, row=1, col=1
        )
        # Alpha can be negative (questions that disagree): the axis reaches the lowest bound.
        bottom = min([0.0] + [value(r, "alpha_ci_low") or 0.0 for r in shown])
        fig.update_yaxes(range=[bottom, 1.0], row=1, col=1)
    dims = list(
        dict.fromkeys([str(r.get(k)) for r in corr for k in ("dimension_a", "dimension_b")])
    )
    if dims:
        pos = {d: i for i, d in enumerate(dims)}
        z: list[list[float | None]] = [[1.0 if a == b else None for b in dims] for a in dims]
        text = [["1" if a == b else "" for b in dims] for a in dims]
        for r in corr:
            i, j = pos[str(r.get("dimension_a"))], pos[str(r.get("dimension_b"))]
            v = value(r, "r")
            z[i][j] = z[j][i] = None if v is None else round(v, 2)
            cell = f"{v:.2f}" if v is not None else label(lang, "suppressed")
            text[i][j] = text[j][i] = cell
        names = [name(d) for d in dims]
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=names,
                y=names,
                text=text,
                texttemplate="%{text}",
                zmin=-1,
                zmax=1,
                colorscale=[[0, RED], [0.5, LIGHT], [1, BLUE]],
                colorbar={"title": {"text": "r"}, "x": 1.02},
                hovertemplate="%{y} × %{x}: %{text}<extra></extra>",
            ),
            row=1,
            col=heat_col,
        )
        fig.update_yaxes(autorange="reversed", row=1, col=heat_col)
    fig = _finish(fig, title=title, height=380)
    if not two:
        # The estimate of the heatmap's names on the left can fall a pixel short; a little
        # slack spares plotly.js a second drawing.
        fig.layout.margin.l = (fig.layout.margin.l or 0) + 6
    if two and dims:
        # The margins are estimated from the first panel's axes only: make room below for the
        # heatmap's dimension names as plotly.js lays them out in the narrower right panel.
        m = fig.layout.margin
        width = (PLOT_WIDTH - (m.l or 0) - (m.r or 0)) * (1 - SPACING) * 0.55
        ticks, _reach = _category_labels([name(d) for d in dims], plot_width=width)
        m.b = max(m.b or 0, math.ceil(ticks + 16))
    return fig


def _kind(scenario: str) -> str:
    return "drop" if scenario.startswith("drop_") else scenario


def sensitivity(
    rows: Sequence[Row],
    *,
    lang: str = "zh-CN",
    names: Mapping[str, str] | None = None,
) -> go.Figure:
    """Rank-shift chart: one line per unit (y) from its best to its worst rank over the
    scenarios, a marker per scenario at its rank and the base rank emphasised; withheld
    units are listed without ranks.

    Rows: ``{"unit_code", "base_rank", "ranks": {scenario: rank}, "suppressed"}``.
    """
    title = label(lang, "sensitivity")
    fig = go.Figure()
    shown = [r for r in rows if not r.get("suppressed") and isinstance(r.get("ranks"), Mapping)]
    shown.sort(key=lambda r: num(r.get("base_rank")) or 0)
    hidden = [r for r in rows if r not in shown]
    if not shown:
        _empty(fig, lang)
        return _finish(fig, title=title)
    ys = [unit_label(r.get("unit_code"), names, r) for r in shown]
    line_x: list[float | None] = []
    line_y: list[str | None] = []
    for y, r in zip(ys, shown, strict=True):
        ranks = [v for v in (num(x) for x in r["ranks"].values()) if v is not None]
        line_x += [min(ranks), max(ranks), None]
        line_y += [y, y, None]
    fig.add_trace(
        go.Scatter(
            x=line_x,
            y=line_y,
            mode="lines",
            line={"color": LIGHT, "width": 6},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    scenarios = [s for s in dict.fromkeys(s for r in shown for s in r["ranks"]) if s != "base"]
    for kind, (colour, key) in SCENARIO_STYLE.items():
        xs: list[float | None] = []
        yy: list[str] = []
        tips: list[str] = []
        for s in (s for s in scenarios if _kind(s) == kind):
            for y, r in zip(ys, shown, strict=True):
                xs.append(num(r["ranks"].get(s)))
                yy.append(y)
                tips.append(esc(s.removeprefix("drop_")) if kind == "drop" else "")
        if not xs:
            continue
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=yy,
                mode="markers",
                name=label(lang, key),
                marker={"color": colour, "size": 9, "symbol": "circle-open", "line": {"width": 2}},
                customdata=tips,
                hovertemplate="<b>%{y}</b><br>"
                + label(lang, key)
                + " %{customdata}<br>"
                + label(lang, "rank")
                + " %{x}<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[num(r.get("base_rank")) for r in shown],
            y=ys,
            mode="markers",
            name=label(lang, "sens_base"),
            marker={"color": BLUE, "size": 14, "symbol": "diamond"},
            customdata=[[r.get("median_shift"), r.get("max_shift")] for r in shown],
            hovertemplate="<b>%{y}</b><br>"
            + label(lang, "sens_base")
            + " %{x}<br>"
            + label(lang, "sens_shift")
            + " %{customdata[0]} / %{customdata[1]}<extra></extra>",
        )
    )
    if hidden:
        fig.add_trace(
            go.Scatter(
                # A fixed placeholder at the axis start for the reason, no rank of the unit.
                x=[1] * len(hidden),
                y=[unit_label(r.get("unit_code"), names, r) for r in hidden],
                mode="text",
                text=[label(lang, "suppressed")] * len(hidden),
                textfont={"color": GREY},
                textposition="middle right",
                hoverinfo="skip",
                showlegend=False,
                meta={"suppressed": True},
            )
        )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title={"text": label(lang, "rank")}, dtick=1, rangemode="tozero")
    return _finish(fig, title=title, height=_height(len(rows), per=28, base=200), legend_top=True)
