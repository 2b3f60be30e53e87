"""The one-page A4 report of a subject's democratic evaluation, for the file (档案).

One HTML document with no script and nothing fetched: tables with their shares drawn as CSS
bars, so it opens from a file offline and prints the same on any machine, years later. The
numbers are the API's (``EvaluationResults``), so the page and the record cannot disagree.
All text goes through Jinja's autoescape.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from analytics.evaluation.schemas import EvaluationResults, ItemCounts, SubjectEvaluation
from analytics.evaluation.words import pick, t
from service.i18n import catalog, translate
from service.localtime import DEFAULT_TIME_ZONE, local_time

TEMPLATE = Path(__file__).with_name("report.html")
PREFIX = "evr.report."


@lru_cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(autoescape=True)
    return env.from_string(TEMPLATE.read_text(encoding="utf-8"))


def _strings(lang: str) -> dict[str, str]:
    """The report's words, by key without the prefix."""
    return {
        key.removeprefix(PREFIX): translate(lang, key)
        for key in catalog()["zh-CN"]
        if key.startswith(PREFIX)
    }


def pct(share: float | None) -> str:
    """A share as a percentage with one decimal."""
    return "" if share is None else f"{100 * share:.1f}%"


def points(value: float | None) -> str:
    """Points with one decimal."""
    return "—" if value is None else f"{value:.1f}"


def row_cells(counts: ItemCounts, lang: str) -> dict[str, Any]:
    """A table row: each grade's count and share, 不了解 apart, and the stacked bar."""
    known = [g for g in counts.grades if g.share is not None]
    unknown = next((g for g in counts.grades if g.share is None), None)
    return {
        "cells": [f"{g.count} ({pct(g.share)})" for g in known],
        "unknown": unknown.count if unknown else 0,
        "known": counts.known,
        "mean": points(counts.mean_points),
        "bar": [(g.grade, round(100 * (g.share or 0), 2)) for g in known],
    }


def subject_context(subject: SubjectEvaluation, lang: str) -> dict[str, Any]:
    """What the template shows of one subject."""
    overall = next((c for c in subject.totals if c.item == "overall"), None)
    by_group = []
    for g in subject.groups:
        own = next((c for c in g.items if c.item == "overall"), g.items[0] if g.items else None)
        by_group.append(
            {
                "label": pick(lang, g.label, g.label_en),
                "n": g.n,
                "weight": f"{100 * g.weight_share:.0f}%",
                "mean": points(g.mean_points),
                "row": row_cells(own, lang) if own else None,
            }
        )
    return {
        "overall_label": pick(lang, overall.label, overall.label_en) if overall else "",
        "total_row": row_cells(overall or subject.totals[0], lang) if subject.totals else None,
        "groups": by_group,
        "item_rows": [
            {"label": pick(lang, c.label, c.label_en), "row": row_cells(c, lang)}
            for c in subject.totals
            if c.item != "overall"
        ],
        "rules": [
            {
                "label": pick(lang, r.label, r.label_en),
                "text": r.text_en if lang == "en" else r.text,
                "share": "—" if r.share_exact is None else f"{pct(r.share)} ({r.share_exact})",
                "flagged": r.flagged,
            }
            for r in subject.rules
        ],
    }


def build(
    results: EvaluationResults,
    *,
    lang: str,
    generated_at: datetime,
    time_zone: str = DEFAULT_TIME_ZONE,
    printed_by: str = "",
) -> str:
    """The report of the (first) subject of the results as one HTML document."""
    subject = results.subjects[0]
    s = _strings(lang)
    known_grades = [g for g in results.scale if g.points is not None]
    unknown = next((g for g in results.scale if g.points is None), None)
    score = ""
    if subject.score is not None:
        score = points(subject.score)
    interval = ""
    if subject.score_low is not None and subject.score_high is not None:
        interval = f"{points(subject.score_low)} – {points(subject.score_high)}"
    # Pools of weighted groups and weighted absent groups are said with their weights; a
    # pool of groups the scheme does not weigh keeps the plain pooling sentence.
    noted = {tuple(n.groups) for n in subject.weight_notes if n.kind == "pooled"}
    pooled = [g for g in subject.groups if len(g.groups) > 1 and tuple(g.groups) not in noted]
    weight_notes = [n.text_en if lang == "en" else n.text for n in subject.weight_notes]
    return _template().render(
        lang=lang,
        s=s,
        title=pick(lang, results.title, results.title_en),
        subject=subject,
        kind=t(lang, f"kind.{subject.kind}"),
        grades=[
            {"key": g.key, "label": pick(lang, g.label, g.label_en), "points": g.points}
            for g in known_grades
        ],
        unknown_label=pick(lang, unknown.label, unknown.label_en) if unknown else "",
        score=score,
        interval=interval,
        ctx=subject_context(subject, lang) if not subject.suppressed else None,
        suppressed_text=s["suppressed"].format(k=results.k),
        pooled_text=s["pooled"].format(
            k=results.k, groups="、".join(pick(lang, g.label, g.label_en) for g in pooled)
        )
        if pooled
        else "",
        weight_notes=weight_notes,
        method_text=s["method"].format(k=results.k),
        config_hash=results.config_hash or "",
        closed=local_time(results.closes_at, time_zone),
        generated=local_time(generated_at, time_zone),
        printed_by=printed_by,
    )
