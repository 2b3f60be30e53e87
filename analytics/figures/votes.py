"""Charts of the deputies' vote and of the selected projects' progress."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

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
    esc,
    label,
    num,
    text_width,
)
from surveys.voting.schemas import SelectionResult

# --------------------------------------------------------------------------- the vote


def _project_title(p: Row, lang: str) -> str:
    title = (
        (p.get("title_en") if lang == "en" else None) or p.get("title") or f"#{p.get('project_id')}"
    )
    return esc(title)


def threshold_votes(results: SelectionResult) -> int | None:
    """The pass line to draw: the "for" votes the session's own rule required (None when
    the rule has no threshold, so there is no line)."""
    return results.threshold_votes if results.threshold_votes > 0 else None


def vote(results: SelectionResult, *, lang: str = "zh-CN", unit: float = 10_000.0) -> go.Figure:
    """The deputies' vote: for / against / abstain per project with the pass line, selected
    projects highlighted, each project's budget stacked on what was selected before it
    against the cap, and the default rule's selection beside the Method of Equal Shares.

    ``results``: a selection session's counted result; its ``rule`` text is the title's
    subtitle (pass it empty where the rule is shown in words already).
    """
    projects = list(results.projects)
    if not projects:
        fig = go.Figure()
        _empty(fig, lang)
        return _finish(fig, title=label(lang, "vote"))
    projects.sort(
        key=lambda p: (p.rank is None, p.rank or 0, -p.votes_for, p.against, str(p.project_id))
    )
    ys = [_project_title(p.model_dump(), lang) for p in projects]
    # Duplicate titles would merge categories; keep them apart with the id.
    if len(set(ys)) != len(ys):
        ys = [f"{y} (#{p.project_id})" for y, p in zip(ys, projects, strict=True)]
    selected = [p.selected for p in projects]
    threshold = threshold_votes(results)
    cap = results.budget_cap
    votes_title = label(lang, "votes")
    if threshold is not None:
        votes_title += " · " + label(lang, "threshold", v=threshold)
    budget_title = label(lang, "cumulative_budget")
    budget_title += f" · {label(lang, 'budget_cap')} {cap / unit:,.0f}"
    fig = make_subplots(
        rows=1,
        cols=3,
        shared_yaxes=True,
        column_widths=[0.48, 0.32, 0.2],
        horizontal_spacing=0.05,
        subplot_titles=(votes_title, budget_title, label(lang, "outcome")),
    )
    sel_text = [label(lang, "selected") if s else "" for s in selected]
    fig.add_trace(
        go.Bar(
            name=label(lang, "for"),
            orientation="h",
            y=ys,
            x=[p.votes_for for p in projects],
            marker={
                "color": [GREEN if s else "#a5d6a7" for s in selected],
                "line": {
                    "color": ["#1b5e20" if s else "rgba(0,0,0,0)" for s in selected],
                    "width": 2,
                },
            },
            text=sel_text,
            textposition="inside",
            insidetextanchor="start",
            customdata=[[p.project_id, p.rank, p.passed] for p in projects],
            hovertemplate="<b>%{y}</b><br>" + label(lang, "for") + ": %{x}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    for key, color in (("against", RED), ("abstain", GREY)):
        fig.add_trace(
            go.Bar(
                name=label(lang, key),
                orientation="h",
                y=ys,
                x=[getattr(p, key) for p in projects],
                marker={"color": color},
                hovertemplate="<b>%{y}</b><br>" + label(lang, key) + ": %{x}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    if threshold is not None:
        fig.add_vline(
            x=threshold,
            line={"color": "#1f2933", "dash": "dash", "width": 2},
            row=1,
            col=1,
        )
    # Budget: each project drawn from the total selected before it, so the cap line shows
    # which projects fit and which were skipped.
    bases, widths, colors = [], [], []
    running = 0.0
    for p, s in zip(projects, selected, strict=True):
        budget = p.budget / unit
        bases.append(round(running, 2))
        widths.append(round(budget, 2))
        colors.append(BLUE if s else LIGHT)
        if s:
            running += budget
    fig.add_trace(
        go.Bar(
            name=label(lang, "budget"),
            orientation="h",
            y=ys,
            x=widths,
            base=bases,
            marker={"color": colors, "line": {"color": GREY, "width": 1}},
            showlegend=False,
            hovertemplate="<b>%{y}</b><br>"
            + label(lang, "budget")
            + ": %{x:,.0f}<br>"
            + label(lang, "cumulative_budget")
            + ": %{base:,.0f} → %{customdata:,.0f}<extra></extra>",
            customdata=[round(b + w, 2) for b, w in zip(bases, widths, strict=True)],
        ),
        row=1,
        col=2,
    )
    fig.add_vline(x=cap / unit, line={"color": RED, "width": 2}, row=1, col=2)
    mes = set(results.equal_shares.selected)
    cols = [label(lang, "default_rule"), label(lang, "equal_shares")]
    for col_name, chosen in (
        (cols[0], selected),
        (cols[1], [p.project_id in mes for p in projects]),
    ):
        fig.add_trace(
            go.Scatter(
                x=[col_name] * len(projects),
                y=ys,
                mode="markers",
                marker={
                    "symbol": ["circle" if c else "circle-open" for c in chosen],
                    "size": 14,
                    "color": [GREEN if c else GREY for c in chosen],
                },
                showlegend=False,
                customdata=[
                    label(lang, "selected") if c else label(lang, "not_selected") for c in chosen
                ],
                hovertemplate="<b>%{y}</b><br>%{x}: %{customdata}<extra></extra>",
                meta={"rule": "default" if col_name == cols[0] else "equal_shares"},
            ),
            row=1,
            col=3,
        )
    fig.update_layout(barmode="stack", bargap=0.3, legend={"traceorder": "normal"})
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", row=1, col=3)
    fig.update_annotations(font={"size": 13})  # the subplot titles
    lines = wrap(results.rule)
    title = label(lang, "vote") + "".join(f"<br><sup>{esc(line)}</sup>" for line in lines)
    fig = _finish(
        fig, title=title, height=_height(len(projects), per=30, base=220 + 16 * len(lines))
    )
    fig.update_layout(margin={"t": 80 + 17 * len(lines)})
    return fig


def wrap(text: str, width: int = 110) -> list[str]:
    """Lines of at most about width columns (a CJK character takes two)."""

    def cols(chars: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in chars)

    lines: list[str] = []
    line = ""
    for token in re.findall(r"\S+\s*|\s+", text):
        if cols(token) > width:  # a long run of CJK text: break it between characters
            for ch in token:
                if cols(line + ch) > width:
                    lines.append(line.rstrip())
                    line = ""
                line += ch
        elif cols(line + token.rstrip()) > width and line:
            lines.append(line.rstrip())
            line = token
        else:
            line += token
    if line.strip():
        lines.append(line.rstrip())
    return lines


def tracker(rows: Sequence[Row], *, lang: str = "zh-CN") -> go.Figure:
    """Progress of the selected projects (percent done), coloured by status.

    Rows: ``{"project_id", "title", "title_en"?, "status", "percent_done", "note"?,
    "updated_on"?}``.
    """
    fig = go.Figure()
    if not rows:
        _empty(fig, lang)
        return _finish(fig, title=label(lang, "tracker"))
    shown = sorted(
        rows, key=lambda r: (-(num(r.get("percent_done")) or 0.0), str(r.get("project_id")))
    )
    ys = [_project_title(r, lang) for r in shown]
    if len(set(ys)) != len(ys):
        ys = [f"{y} (#{r.get('project_id')})" for y, r in zip(ys, shown, strict=True)]
    pct = [num(r.get("percent_done")) or 0.0 for r in shown]
    status_color = {"completed": GREEN, "in_progress": BLUE, "selected": AMBER}
    fig.add_trace(
        go.Bar(
            orientation="h",
            y=ys,
            x=pct,
            marker={"color": [status_color.get(str(r.get("status")), GREY) for r in shown]},
            text=[f"{p:.0f}%" for p in pct],
            textposition="outside",
            # "100%" sits past the end of the axis; clipped there, a phone showed only "1".
            cliponaxis=False,
            customdata=[
                [
                    label(lang, f"status.{r.get('status')}"),
                    esc(r.get("note") or ""),
                    esc(r.get("updated_on") or ""),
                ]
                for r in shown
            ],
            hovertemplate="<b>%{y}</b><br>%{customdata[0]}: %{x:.0f}%<br>%{customdata[2]} %{customdata[1]}<extra></extra>",
            name=label(lang, "percent_done"),
        )
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(range=[0, 110], title=label(lang, "percent_done"))
    fig.update_layout(showlegend=False)
    fig = _finish(fig, title=label(lang, "tracker"), height=_height(len(rows), per=30))
    # Room on the right for the longest label, "100%", outside a full bar.
    fig.update_layout(
        margin={"r": max(fig.layout.margin.r or 0, math.ceil(text_width("100%")) + 8)}
    )
    return fig
