"""What every chart shares: the palette and template, the chart labels, safe text and
numbers from rows, and the layout maths (text widths, margins, heights).
"""

from __future__ import annotations

import html
import math
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from service.i18n import known, translate

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

# Chart labels live in analytics/locales/figures.json under this prefix, so that a bare word
# ("rank", "n") cannot clash with a page's message of the same name.
PREFIX = "fig."


def label(lang: str, key: str, **params: object) -> str:
    """The chart label for key in lang (zh-CN when the language is unknown)."""
    text = translate(lang, PREFIX + key)
    if text == PREFIX + key:  # in no catalog: the key itself
        text = key
    return text.format(**params) if params else text


def has_label(key: str) -> bool:
    """True when the catalogs hold a chart label for key."""
    return known(PREFIX + key)


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


def _empty(fig: go.Figure, lang: str, text: str | None = None) -> None:
    """An empty chart that says why: no data yet, or ``text``."""
    fig.add_annotation(
        text=text or label(lang, "no_data"),
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
