"""The shareable report of one campaign: a single HTML file with every chart (interactive:
plotly.js is inlined from the installed package), the tables behind them and the method.

It opens from a file with no network and prints cleanly (print stylesheet; charts are
resized to the page before printing). All user text goes through Jinja's autoescape, and
figure JSON is escaped for embedding in ``<script type="application/json">`` blocks.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from analytics import figures
from analytics.dashboard.bundle import figure_json
from analytics.dashboard.service import Dashboard, method_text
from analytics.figures.difference import VERDICT_KEYS
from analytics.report.diagnostics import (
    RELIABILITY_COLUMNS,
    SENSITIVITY_COLUMNS,
    diagnostic_cells,
)
from service.i18n import catalog, known, translate
from service.localtime import DEFAULT_TIME_ZONE, local_time

TEMPLATE = Path(__file__).with_name("template.html")
# The report's words live in analytics/locales/report.json under this prefix; a column's
# heading is its own ``report.col.<key>`` message, or else the chart label.
PREFIX = "report."

# The figures of the report, with the table columns shown under each (key, label key).
SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    ("responses", [("period", "period"), ("n", "responses")]),
    (
        "ranking",
        [
            ("rank", "rank"),
            ("unit", "unit"),
            ("index", "index"),
            ("interval", "interval"),
            ("rank_range", "rank_range"),
            ("n", "n"),
        ],
    ),
    ("heatmap", []),
    (
        "profile",
        [("dimension", "dimension"), ("score", "score"), ("interval", "interval"), ("n", "n")],
    ),
    (
        "trends",
        [
            ("dimension", "dimension"),
            ("period", "period"),
            ("score", "score"),
            ("n", "n"),
            ("significant", "significant"),
        ],
    ),
    (
        "breakdown_area",
        [("area", "area"), ("score", "score"), ("interval", "interval"), ("n", "n")],
    ),
    (
        "breakdown_profile",
        [
            ("age_band", "age_band"),
            ("sex", "sex"),
            ("score", "score"),
            ("interval", "interval"),
            ("n", "n"),
        ],
    ),
    (
        "distribution",
        [
            ("question", "question"),
            ("top_two", "top_two"),
            ("top_interval", "interval"),
            ("bottom_two", "bottom_two"),
            ("n", "n"),
        ],
    ),
    (
        "difference",
        [
            ("dimension", "dimension"),
            ("difference", "difference"),
            ("diff_interval", "interval"),
            ("p_holm", "p_holm"),
            ("verdict", "verdict"),
        ],
    ),
    ("reliability", RELIABILITY_COLUMNS),
    ("sensitivity", SENSITIVITY_COLUMNS),
    (
        "sentiment",
        [
            ("unit", "unit"),
            ("negative", "negative"),
            ("neutral", "neutral"),
            ("positive", "positive"),
            ("n", "n"),
        ],
    ),
    ("themes", []),
    ("aspects", []),
    ("aspect_trends", []),
    (
        "vote",
        [
            ("title", "title"),
            ("for", "for"),
            ("against", "against"),
            ("abstain", "abstain"),
            ("selected", "selected"),
        ],
    ),
    ("tracker", [("title", "title"), ("status", "status"), ("percent_done", "percent_done")]),
]


@lru_cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(autoescape=True, trim_blocks=False, lstrip_blocks=False)
    return env.from_string(TEMPLATE.read_text(encoding="utf-8"))


@lru_cache
def plotly_js() -> str:
    """plotly.js from the installed package, made safe to sit inside a script element."""
    return get_plotlyjs().replace("</script", "<\\/script")


def _fmt(v: Any, digits: int = 1) -> str:
    num = figures.num(v)
    if num is None:
        return "" if v is None else str(v)
    return f"{num:,.{digits}f}" if isinstance(v, float) else f"{num:,.0f}"


def difference_cells(row: dict[str, Any], lang: str) -> dict[str, str]:
    """The difference view's columns: difference, its interval, Holm p-value and verdict."""
    if row.get("suppressed"):
        blank = {"difference": figures.label(lang, "suppressed")}
        return blank | {"diff_interval": "", "p_holm": "", "verdict": ""}
    lo, hi = figures.num(row.get("ci_low")), figures.num(row.get("ci_high"))
    p = figures.num(row.get("p_holm"))
    verdict = str(row.get("verdict") or "")
    return {
        "difference": _fmt(row.get("difference")),
        "diff_interval": f"{_fmt(lo)} – {_fmt(hi)}" if lo is not None and hi is not None else "",
        "p_holm": "" if p is None else f"{p:.3g}",
        "verdict": figures.label(lang, VERDICT_KEYS[verdict]) if verdict in VERDICT_KEYS else "",
    }


def _cells(row: dict[str, Any], dash: Dashboard) -> tuple[dict[str, str], dict[str, bool]]:
    """Display text of a row's report columns (suppressed rows show no values)."""
    lang, names = dash.lang, dash.names
    hidden = bool(row.get("suppressed"))
    unit = row.get("unit_code")
    cells: dict[str, str] = {
        "unit": names.get(str(unit), str(unit or "")),
        "area": names.get(str(row.get("area_code")), str(row.get("area_code") or "")),
        "dimension": dash.dimensions.get(
            str(row.get("dimension")), str(row.get("dimension") or "")
        ),
        "period": str(row.get("period") or ""),
        "age_band": str(row.get("age_band") or figures.label(lang, "unknown")),
        "sex": figures.label(lang, f"sex.{row['sex']}")
        if row.get("sex")
        else figures.label(lang, "unknown"),
        "title": str((row.get("title_en") if lang == "en" else None) or row.get("title") or ""),
        "status": figures.label(lang, f"status.{row.get('status')}") if row.get("status") else "",
        "question": dash.question_labels.get(
            str(row.get("question")), str(row.get("question") or "")
        ),
    }
    if isinstance(row.get("a"), str) and "b" in row:
        # A row of the difference view: its composite row is the index, not a dimension.
        if row.get("dimension") == "index":
            cells["dimension"] = figures.label(lang, "index")
        cells.update(difference_cells(row, lang))
    cells.update(diagnostic_cells(row, lang, dash.dimensions))
    numeric: dict[str, bool] = {}
    if hidden:
        for key in (
            "index",
            "score",
            "interval",
            "rank",
            "rank_range",
            "n",
            "negative",
            "neutral",
            "positive",
            "top_two",
            "bottom_two",
            "top_interval",
        ):
            cells[key] = figures.label(lang, "suppressed") if key in ("index", "score") else ""
        return cells, numeric
    lo = row.get("ci_low") if "index" in row else row.get("score_ci_low")
    hi = row.get("ci_high") if "index" in row else row.get("score_ci_high")
    cells.update(
        index=_fmt(row.get("index")),
        score=_fmt(row.get("score")),
        interval=f"{_fmt(lo)} – {_fmt(hi)}" if lo is not None and hi is not None else "",
        rank=str(row.get("rank") or ""),
        rank_range=(
            f"{row.get('rank_low')}–{row.get('rank_high')}"
            if row.get("rank_low") is not None
            else ""
        ),
        n=_fmt(row.get("n")),
        significant=("▲" if (row.get("change") or 0) > 0 else "▼")
        if row.get("significant")
        else "",
        percent_done=_fmt(row.get("percent_done"), 0),
        selected="✓" if row.get("selected") else "",
    )
    for key in ("for", "against", "abstain"):
        cells[key] = _fmt(row.get(key))
    for key in ("negative", "neutral", "positive"):
        v = figures.num(row.get(key))
        cells[key] = "" if v is None else f"{100 * v:.1f}%"
    # The distribution of answers: shares as percentages, the top-two share's interval.
    for key, field in (("top_two", "top_share"), ("bottom_two", "bottom_share")):
        v = figures.num(row.get(field))
        cells[key] = "" if v is None else f"{100 * v:.1f}%"
    tlo, thi = figures.num(row.get("top_ci_low")), figures.num(row.get("top_ci_high"))
    cells["top_interval"] = (
        f"{100 * tlo:.1f}% – {100 * thi:.1f}%" if tlo is not None and thi is not None else ""
    )
    for key in (
        "index",
        "score",
        "rank",
        "n",
        "for",
        "against",
        "abstain",
        "percent_done",
        "negative",
        "neutral",
        "positive",
    ):
        numeric[key] = True
    return cells, numeric


def _strings(lang: str) -> dict[str, str]:
    """The report's words in lang, by key without the prefix (as the template uses them)."""
    return {
        key.removeprefix(PREFIX): translate(lang, key)
        for key in catalog()["zh-CN"]
        if key.startswith(PREFIX) and not key.startswith(PREFIX + "col.")
    }


def _column_label(lang: str, key: str, label_key: str) -> str:
    """A table column's heading: the report's own word for it, else the chart label."""
    own = f"{PREFIX}col.{key}"
    return translate(lang, own) if known(own) else figures.label(lang, label_key)


def build(dash: Dashboard, *, generated_at: datetime, time_zone: str = DEFAULT_TIME_ZONE) -> str:
    """The report of the dashboard's campaign (and voting session) as one HTML document."""
    lang = dash.lang
    s = _strings(lang)
    wanted = dash.default_figures()
    sections = []
    for name, columns in SECTIONS:
        if name not in wanted:
            continue
        fig = dash.figure(name)
        rows = dash.rows(name) if columns else []
        shown_rows = []
        for r in rows:
            cells, numeric = _cells(r, dash)
            shown_rows.append(
                {"cells": cells, "numeric": numeric, "suppressed": r.get("suppressed")}
            )
        title = fig.layout.title.text or name
        sections.append(
            {
                "name": name,
                "title": Markup(title.split("<br>")[0]).striptags(),
                "json": figure_json(dash, name),
                "columns": [(k, _column_label(lang, k, lab)) for k, lab in columns],
                "rows": shown_rows,
            }
        )
    comments = dash.comment_rows()[0][:50] if "sentiment" in wanted else []
    f = dash.filters
    parts = [
        f"{s['period']} {s.get('period.' + f.period, f.period)}",
        f"{s['month']} {f.month or s['all']}",
        f"{s['area']} {dash.names.get(f.area, f.area) if f.area else s['all']}",
        f"{s['unit_kind']} {f.unit_kind or s['all']}",
        s["weighted"] if f.weighted else s["unweighted"],
        s["flagged_in"] if f.include_flagged else s["flagged_out"],
    ]
    campaign = dash.campaign
    title = ""
    if campaign is not None:
        title = (campaign.title_en if lang == "en" and campaign.title_en else campaign.title) or ""
    return _template().render(
        lang=lang,
        s=s,
        title=title,
        generated=local_time(generated_at, time_zone),
        filters_text=" · ".join(parts),
        headline=dash.headline() if campaign is not None else None,
        sections=sections,
        comments=comments,
        method_text=s["method.text"].format(k=dash.k),
        method_json=method_text(dash),
        plotly_js=plotly_js(),
    )
