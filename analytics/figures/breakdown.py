"""Scores broken down by respondent groups (area, age band, sex)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from analytics.figures.common import (
    GREY,
    Row,
    _empty,
    _finish,
    _reason,
    _round,
    _whiskers,
    esc,
    has_label,
    label,
    suppressed,
    unit_label,
    value,
)

# --------------------------------------------------------------------------- breakdown


def _group_label(key: str, v: object, lang: str, names: Mapping[str, str] | None) -> str:
    if v is None or v == "":
        return label(lang, "unknown")
    if key == "sex":
        return label(lang, f"sex.{v}") if has_label(f"sex.{v}") else esc(v)
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
