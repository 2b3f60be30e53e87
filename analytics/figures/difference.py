"""The difference between two units (or a unit and the district): a forest plot."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from analytics.figures.common import (
    BLUE,
    GREY,
    RED,
    Row,
    _empty,
    _finish,
    _height,
    _round,
    _whiskers,
    esc,
    label,
    value,
)
from analytics.figures.votes import wrap

VERDICT_COLOURS = {"higher": BLUE, "lower": RED, "no clear difference": GREY}
VERDICT_KEYS = {"higher": "diff_higher", "lower": "diff_lower", "no clear difference": "diff_none"}


def difference_figure(
    rows: Sequence[Row],
    *,
    lang: str = "zh-CN",
    dimensions: Mapping[str, str] | None = None,
    subject: str | None = None,
) -> go.Figure:
    """One point per dimension (and the composite index): the difference a - b with its 95%
    interval, a zero line, coloured by the Holm-controlled verdict (grey: no clear
    difference); suppressed rows are listed without a value.

    Rows: ``{"dimension", "difference", "ci_low", "ci_high", "verdict", "suppressed"}``.
    """
    title = label(lang, "difference_of", subject=esc(subject)) if subject else None
    title = title or label(lang, "difference")
    fig = go.Figure()
    shown = [r for r in rows if value(r, "difference") is not None]
    hidden = [r for r in rows if value(r, "difference") is None]
    if not shown:
        _empty(fig, lang)
        return _finish(fig, title=title)

    def name(r: Row) -> str:
        dim = str(r.get("dimension") or "")
        if dim == "index":
            return label(lang, "index")
        return esc((dimensions or {}).get(dim, dim))

    ys = [name(r) for r in shown]
    xs = [_round(value(r, "difference")) for r in shown]
    lo = [value(r, "ci_low") for r in shown]
    hi = [value(r, "ci_high") for r in shown]
    verdicts = [str(r.get("verdict") or "no clear difference") for r in shown]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            name=label(lang, "difference"),
            error_x=_whiskers(xs, lo, hi),
            marker={"color": [VERDICT_COLOURS.get(v, GREY) for v in verdicts], "size": 11},
            customdata=[
                [label(lang, VERDICT_KEYS.get(v, "diff_none")), lo_, hi_, r.get("p_holm")]
                for v, lo_, hi_, r in zip(verdicts, lo, hi, shown, strict=True)
            ],
            hovertemplate=(
                "<b>%{y}</b><br>"
                + label(lang, "difference")
                + ": %{x:.1f}<br>"
                + label(lang, "interval")
                + ": %{customdata[1]:.1f} – %{customdata[2]:.1f}<br>"
                + "%{customdata[0]} (p = %{customdata[3]:.3g})<extra></extra>"
            ),
            showlegend=False,
        )
    )
    fig.add_vline(x=0, line={"color": "#52606d", "width": 1, "dash": "dot"})
    if hidden:
        fig.add_trace(
            go.Scatter(
                x=[0] * len(hidden),
                y=[name(r) for r in hidden],
                mode="text",
                text=[label(lang, "suppressed")] * len(hidden),
                textfont={"color": GREY},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    # Rows in the order given (the dimensions, then the index), withheld ones in their place.
    order = [name(r) for r in rows]
    fig.update_yaxes(
        autorange="reversed", automargin=True, categoryorder="array", categoryarray=order
    )
    fig.update_xaxes(title={"text": label(lang, "difference_axis")}, zeroline=False)
    # The warning about overlapping intervals goes under the title, where it has room.
    lines = wrap(label(lang, "difference_note"), 96)
    title += "".join(f"<br><sup>{esc(line)}</sup>" for line in lines)
    fig = _finish(fig, title=title, height=_height(len(rows), per=34, base=190 + 16 * len(lines)))
    fig.update_layout(margin={"t": 64 + 17 * len(lines)})
    return fig
