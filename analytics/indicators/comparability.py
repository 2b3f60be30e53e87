"""Whether two campaigns' indicators may be put side by side, and the side-by-side view.

Two campaigns are comparable when their questionnaires belong to the same family (one survey
and its versions) and their rated questions (rating and NPS) agree on key, dimension, type,
scale ends and wording. Anything else is listed as a difference, and every view that shows
both campaigns shows the list. A new version whose rated questions did not change (only a
choice or text question did) stays comparable, with a note; so do different composite weights,
which change the index but none of the per-dimension scores.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from analytics.indicators import service
from analytics.indicators.params import get_campaign
from surveys.forms.models import Campaign, Question, QuestionType, Survey

# What must agree for a rated question to measure the same thing in both campaigns.
QUESTION_FIELDS = ("dimension", "type", "scale_min", "scale_max", "label", "label_en")
SCORE_FIELDS = ("n", "score", "ci_low", "ci_high", "mean")


def _rated(session: Session, survey_id: int) -> dict[str, dict[str, Any]]:
    rows = session.execute(
        select(Question)
        .where(
            col(Question.survey_id) == survey_id,
            col(Question.type).in_(("rating", "nps")),
        )
        .order_by(col(Question.position))
    ).scalars()
    out: dict[str, dict[str, Any]] = {}
    for q in rows:
        kind = QuestionType(q.type).value
        nps = kind == "nps"
        out[q.key] = {
            "dimension": q.dimension or ("nps" if nps else q.key),
            "type": kind,
            # The same defaults as the indicators use (queries.campaign_questions).
            "scale_min": q.scale_min if q.scale_min is not None else (0 if nps else 1),
            "scale_max": q.scale_max if q.scale_max is not None else (10 if nps else 5),
            "label": q.label,
            "label_en": q.label_en,
        }
    return out


def _family(session: Session, survey: Survey) -> int:
    """The first version of the survey's family (versions link back through previous_id)."""
    seen: set[int] = set()
    s = survey
    while s.previous_id is not None and s.previous_id not in seen:
        seen.add(int(s.id or 0))
        prev = session.get(Survey, s.previous_id)
        if prev is None:
            break
        s = prev
    return int(s.id or 0)


def _survey_info(survey: Survey) -> dict[str, Any]:
    return {"survey_id": survey.id, "title": survey.title, "version": survey.version}


def compare(session: Session, a: Campaign, b: Campaign) -> dict[str, Any]:
    """{"comparable", "differences", "notes", "a", "b"} for two campaigns.

    A difference is {"kind", "key", "field", "a", "b"}; kind is "survey" (another
    questionnaire), "missing" (a rated question in one only) or "question" (a field differs).
    """
    sa, sb = session.get(Survey, a.survey_id), session.get(Survey, b.survey_id)
    assert sa is not None and sb is not None  # a campaign's survey is a foreign key
    differences: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    if _family(session, sa) != _family(session, sb):
        differences.append(
            {"kind": "survey", "key": None, "field": "survey", "a": sa.title, "b": sb.title}
        )
    elif sa.id != sb.id:
        notes.append({"kind": "version", "field": "version", "a": sa.version, "b": sb.version})
    qa, qb = _rated(session, int(sa.id or 0)), _rated(session, int(sb.id or 0))
    for key in [*qa, *(k for k in qb if k not in qa)]:
        if key not in qa or key not in qb:
            differences.append(
                {
                    "kind": "missing",
                    "key": key,
                    "field": "question",
                    "a": key if key in qa else None,
                    "b": key if key in qb else None,
                }
            )
            continue
        for f in QUESTION_FIELDS:
            if qa[key][f] != qb[key][f]:
                differences.append(
                    {"kind": "question", "key": key, "field": f, "a": qa[key][f], "b": qb[key][f]}
                )
    if (a.dimension_weights or None) != (b.dimension_weights or None):
        notes.append(
            {
                "kind": "weights",
                "field": "dimension_weights",
                "a": a.dimension_weights,
                "b": b.dimension_weights,
            }
        )
    return {
        "comparable": not differences,
        "differences": differences,
        "notes": notes,
        "a": {"campaign_id": a.id, **_survey_info(sa)},
        "b": {"campaign_id": b.id, **_survey_info(sb)},
    }


def comparability(session: Session, *, campaign_id: int, other_id: int) -> dict[str, Any]:
    """The comparability block of two campaigns (404 when either does not exist)."""
    return compare(session, get_campaign(session, campaign_id), get_campaign(session, other_id))


def comparison(
    session: Session, *, campaign_id: int, other_id: int, min_group_size: int
) -> dict[str, Any]:
    """Scores per unit and dimension of two campaigns side by side, with their comparability.

    Each side is exactly the published rows of that campaign's indicators (by unit and
    dimension, unweighted, flagged responses left out), so nothing appears here that the
    indicators view suppresses; a cell suppressed on one side shows only the other side.
    """
    block = comparability(session, campaign_id=campaign_id, other_id=other_id)
    sides = []
    for cid in (campaign_id, other_id):
        res = service.compute(
            session, campaign_id=cid, by=("unit", "dimension"), min_group_size=min_group_size
        )
        sides.append(
            {
                (r.get("unit_code"), r.get("dimension")): r
                for r in res.rows
                if not r.get("suppressed")
            }
        )
    keys = list(sides[0]) + [k for k in sides[1] if k not in sides[0]]
    rows = []
    for unit_code, dimension in keys:
        ra, rb = sides[0].get((unit_code, dimension)), sides[1].get((unit_code, dimension))
        any_row = ra or rb or {}
        rows.append(
            {
                "unit_code": unit_code,
                "unit_name": any_row.get("unit_name"),
                "dimension": dimension,
                "a": {f: ra.get(f) for f in SCORE_FIELDS} if ra else None,
                "b": {f: rb.get(f) for f in SCORE_FIELDS} if rb else None,
            }
        )
    return {"comparability": block, "rows": rows}
