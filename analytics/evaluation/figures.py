"""Charts of a democratic evaluation's results: rows of ``EvaluationResults`` in, Plotly
figures out (no database, no web framework), in the dashboard's house style.

- ``grade_bars``: 100% stacked bars of the grades (不了解 left out), one bar per row: per
  subject (the overall grade), per rater group or per item of one subject;
- ``scores``: each subject's weighted score with its 95% interval, flagged subjects in red.

A suppressed subject contributes no value, only the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from analytics.evaluation.schemas import ItemCounts, ScaleGrade, SubjectEvaluation
from analytics.evaluation.words import pick, t
from analytics.figures.common import GREY, LIGHT, RED, _empty, _finish, _height, esc

# Best grade to worst, for scales of up to five grades (a longer one repeats the last).
GRADE_COLOURS = ["#2e7d32", "#1565c0", "#ef6c00", "#c62828", "#6a1b9a"]
BLUE = "#1565c0"


def grade_bars(
    rows: Sequence[tuple[str, ItemCounts | None]],
    scale: Sequence[ScaleGrade],
    *,
    lang: str,
    title: str,
    k: int,
) -> go.Figure:
    """A 100% stacked bar of the known grades per row; a row without counts (suppressed)
    shows a grey bar saying why."""
    fig = go.Figure()
    known = [g for g in scale if g.points is not None]
    shown = [(name, c) for name, c in rows if c is not None and c.known > 0]
    hidden = [name for name, c in rows if c is None]
    if not shown and not hidden:
        _empty(fig, lang)
        return _finish(fig, title=title)
    ys = [esc(name) for name, _ in shown]
    for i, grade in enumerate(known):
        xs, counts = [], []
        for _, c in shown:
            g = next((x for x in c.grades if x.grade == grade.key), None) if c else None
            xs.append(round(100 * (g.share or 0), 1) if g else 0.0)
            counts.append([g.count if g else 0, c.unknown if c else 0])
        fig.add_trace(
            go.Bar(
                name=esc(pick(lang, grade.label, grade.label_en)),
                orientation="h",
                y=ys,
                x=xs,
                marker={
                    "color": GRADE_COLOURS[min(i, len(GRADE_COLOURS) - 1)],
                    "line": {"color": "#ffffff", "width": 0.5},
                },
                text=[f"{x:.0f}%" if x >= 8 else "" for x in xs],
                textposition="inside",
                insidetextanchor="middle",
                customdata=counts,
                hovertemplate="<b>%{y}</b><br>"
                + esc(pick(lang, grade.label, grade.label_en))
                + ": %{x:.1f}% (%{customdata[0]})<br>"
                + t(lang, "fig.unknown")
                + ": %{customdata[1]}<extra></extra>",
            )
        )
    if hidden:
        fig.add_trace(
            go.Bar(
                name=t(lang, "fig.suppressed"),
                orientation="h",
                y=[esc(n) for n in hidden],
                x=[100.0] * len(hidden),
                marker={"color": LIGHT, "line": {"color": GREY, "width": 1}},
                text=[t(lang, "fig.suppressed_reason", k=k)] * len(hidden),
                textposition="inside",
                insidetextanchor="start",
                textfont={"color": "#52606d"},
                showlegend=False,
                hovertemplate="<b>%{y}</b><br>%{text}<extra></extra>",
                meta={"suppressed": True},
            )
        )
    # Stacked bars list their legend in reverse unless told: the scale reads best first.
    fig.update_layout(barmode="stack", bargap=0.3, legend={"traceorder": "normal"})
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(range=[0, 100], tickvals=[0, 25, 50, 75, 100], title=t(lang, "fig.share"))
    return _finish(
        fig, title=title, height=_height(len(shown) + len(hidden), per=34), legend_top=True
    )


def scores(subjects: Sequence[SubjectEvaluation], *, lang: str, title: str, k: int) -> go.Figure:
    """Each subject's weighted score with its 95% interval (a subject a rule flags in red)."""
    fig = go.Figure()
    shown = [s for s in subjects if not s.suppressed and s.score is not None]
    hidden = [s for s in subjects if s.suppressed]
    if not shown and not hidden:
        _empty(fig, lang)
        return _finish(fig, title=title)
    flagged = [any(r.flagged for r in s.rules) for s in shown]
    fig.add_trace(
        go.Scatter(
            x=[round(s.score or 0, 1) for s in shown],
            y=[esc(s.name) for s in shown],
            mode="markers",
            marker={"size": 11, "color": [RED if f else BLUE for f in flagged]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [round((s.score_high or 0) - (s.score or 0), 2) for s in shown],
                "arrayminus": [round((s.score or 0) - (s.score_low or 0), 2) for s in shown],
                "color": "#52606d",
                "thickness": 1.5,
                "width": 6,
            },
            customdata=[
                [
                    f"{s.score_low:.1f}" if s.score_low is not None else "",
                    f"{s.score_high:.1f}" if s.score_high is not None else "",
                    s.n,
                ]
                for s in shown
            ],
            showlegend=False,
            hovertemplate="<b>%{y}</b><br>"
            + t(lang, "fig.score")
            + " %{x:.1f} (%{customdata[0]} – %{customdata[1]})<br>"
            + t(lang, "fig.raters")
            + " %{customdata[2]}<extra></extra>",
        )
    )
    if hidden:
        fig.add_trace(
            go.Scatter(
                x=[0.0] * len(hidden),
                y=[esc(s.name) for s in hidden],
                mode="text",
                text=[t(lang, "fig.suppressed_reason", k=k)] * len(hidden),
                textposition="middle right",
                textfont={"color": "#52606d"},
                showlegend=False,
                hoverinfo="skip",
                meta={"suppressed": True},
            )
        )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title=t(lang, "fig.score_axis"))
    return _finish(fig, title=title, height=_height(len(shown) + len(hidden), per=34))


def subject_figures(
    subject: SubjectEvaluation, scale: Sequence[ScaleGrade], *, lang: str, k: int
) -> dict[str, go.Figure]:
    """The charts of one subject: overall grades per rater group (and the total), and the
    grades per item."""
    if subject.suppressed:
        return {}
    overall = next((c for c in subject.totals if c.item == "overall"), None)
    groups: list[tuple[str, ItemCounts | None]] = []
    for g in subject.groups:
        own = next((c for c in g.items if c.item == "overall"), None)
        groups.append((pick(lang, g.label, g.label_en), own))
    if overall is not None:
        groups.append((t(lang, "report.total"), overall))
    items = [(pick(lang, c.label, c.label_en), c) for c in subject.totals]
    return {
        "by_group": grade_bars(groups, scale, lang=lang, title=t(lang, "fig.by_group_title"), k=k),
        "by_item": grade_bars(items, scale, lang=lang, title=t(lang, "fig.by_item_title"), k=k),
    }


def group_figures(
    subjects: Sequence[SubjectEvaluation], scale: Sequence[ScaleGrade], *, lang: str, k: int
) -> dict[str, go.Figure]:
    """The charts of a group of subjects: scores with intervals, overall grades per subject."""
    rows: list[tuple[str, ItemCounts | None]] = []
    for s in subjects:
        overall = next((c for c in s.totals if c.item == "overall"), None)
        rows.append(
            (s.name, None if s.suppressed else overall or (s.totals[0] if s.totals else None))
        )
    return {
        "scores": scores(subjects, lang=lang, title=t(lang, "fig.scores_title"), k=k),
        "grades": grade_bars(rows, scale, lang=lang, title=t(lang, "fig.grades_title"), k=k),
    }
