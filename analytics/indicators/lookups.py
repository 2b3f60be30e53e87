"""Small reads beside the counts: unit ids and names, weighting cells, menus and versions.

Each is one short query; the dashboard, the report and the routes read through these rather
than holding SQL of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from analytics.comments.models import CommentScanMark, CommentSentiment
from surveys.forms.models import (
    Campaign,
    CampaignUnit,
    Question,
    StatCell,
    StatUnit,
    SurveyResponse,
)
from surveys.forms.stats import RESPONSE_KEY
from surveys.units.models import AREA_KINDS, Unit, UnitKind
from surveys.voting.models import Ballot, ProjectUpdate


def unit_id(session: Session, code: str) -> int | None:
    """The id of the unit with this code (None when there is none)."""
    uid = session.execute(select(col(Unit.id)).where(col(Unit.code) == code)).scalar()
    return None if uid is None else int(uid)


def unit_ids(session: Session, codes: Iterable[str]) -> dict[str, int]:
    """Ids of the units with these codes, by code (unknown codes are left out)."""
    wanted = list(codes)
    if not wanted:
        return {}
    rows = session.execute(
        select(col(Unit.code), col(Unit.id)).where(col(Unit.code).in_(wanted))
    ).all()
    return {str(code): int(uid) for code, uid in rows}


def units_of_kind(session: Session, ids: Sequence[int], kind: str) -> set[int]:
    """Which of the units (by id) are of this kind."""
    if not ids:
        return set()
    rows = session.execute(
        select(col(Unit.id)).where(col(Unit.id).in_([int(i) for i in ids]), col(Unit.kind) == kind)
    ).scalars()
    return {int(i) for i in rows}


def unit_directory(session: Session) -> dict[str, tuple[str, str, str]]:
    """(name, name_en, kind) of every unit, by code."""
    rows = session.execute(
        select(col(Unit.code), col(Unit.name), col(Unit.name_en), col(Unit.kind))
    ).all()
    return {r[0]: (r[1], r[2] or "", str(r[3])) for r in rows}


def rated_questions(session: Session, *, campaign: Campaign) -> list[Question]:
    """The rating and NPS questions of the campaign's survey, in question order."""
    return list(
        session.execute(
            select(Question)
            .where(
                col(Question.survey_id) == campaign.survey_id,
                col(Question.type).in_(("rating", "nps")),
            )
            .order_by(col(Question.position))
        ).scalars()
    )


def cell_counts(
    session: Session, *, campaign_id: int, include_flagged: bool
) -> list[tuple[int, str, str, int]]:
    """Respondents per weighting cell (area id, age band, sex), in key order."""
    c = StatCell.__table__.c  # type: ignore[attr-defined]
    stmt = select(c.area_unit_id, c.age_band, c.sex, func.sum(c.n)).where(
        c.campaign_id == campaign_id, c.question_key == RESPONSE_KEY
    )
    if not include_flagged:
        stmt = stmt.where(c.flagged == false())
    rows = session.execute(stmt.group_by(c.area_unit_id, c.age_band, c.sex)).all()
    return sorted((int(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows)


def campaign_choices(session: Session, *, lang: str) -> list[dict[str, Any]]:
    """Campaigns for the picker, newest first."""
    rows = session.execute(
        select(col(Campaign.id), col(Campaign.title), col(Campaign.title_en)).order_by(
            col(Campaign.id).desc()
        )
    ).all()
    return [{"id": int(i), "title": (te if lang == "en" and te else t)} for i, t, te in rows]


def filter_options(session: Session, *, campaign: Campaign, lang: str) -> dict[str, Any]:
    """The district's areas (streets and communities) and the kinds of the rated units, for
    the filter menus. Areas come from the unit tree, not from the responses, so the page
    never waits for a scan of a large campaign."""
    areas = session.execute(
        select(col(Unit.code), col(Unit.name), col(Unit.name_en))
        .where(col(Unit.kind).in_([k.value for k in AREA_KINDS if k != UnitKind.district]))
        .order_by(col(Unit.code))
    ).all()
    kinds = session.execute(
        select(col(Unit.kind))
        .join(CampaignUnit, col(CampaignUnit.unit_id) == col(Unit.id))
        .where(col(CampaignUnit.campaign_id) == campaign.id)
        .distinct()
    ).scalars()
    return {
        "areas": [
            {"code": code, "name": (ne if lang == "en" and ne else n)} for code, n, ne in areas
        ],
        "kinds": sorted(str(k) for k in kinds),
    }


def sentiment_counts(
    session: Session,
    *,
    campaign_id: int,
    unit_ids: Sequence[int],
    area_id: int | None,
    include_flagged: bool,
) -> list[tuple[int, str, int]]:
    """Scored comments per (unit id, sentiment label) of the given units."""
    r = SurveyResponse
    conds: list[Any] = [
        # "+ 0": read the scored comments and look each response up by its key, rather
        # than every response of the campaign through the campaign index (5x faster on
        # SQLite with a million responses; PostgreSQL plans a hash join either way).
        (col(r.campaign_id) + 0) == campaign_id,
        col(r.comment).is_not(None),
        col(r.comment) != "",
        col(r.unit_id).in_(list(unit_ids)),
    ]
    if not include_flagged:
        conds.append(col(r.flagged).is_(False))
    if area_id is not None:
        conds.append(col(r.area_unit_id) == area_id)
    stmt = (
        select(col(r.unit_id), col(CommentSentiment.label), func.count())
        .select_from(CommentSentiment)
        .join(r, col(CommentSentiment.response_id) == col(r.id))
        .where(*conds)
        .group_by(col(r.unit_id), col(CommentSentiment.label))
    )
    return [(int(u), str(lab), int(n)) for u, lab, n in session.execute(stmt).all()]


def inputs_version(engine: Engine, campaign_id: int | None) -> tuple[Any, ...]:
    """What changes a bundle most often, read in one cheap statement: the campaign's number
    of responses (``stat_unit``, kept in the responses' own transaction), how far its comments
    are scored and when that mark last moved (comments scored again by ``minyi analytics
    rebuild --rescore`` end at the same place, later), and the number of ballots and project
    updates. Anything else (a renamed unit, an edited project) shows once the cached bundle is
    ``quiet`` seconds old."""
    su, mark = StatUnit.__table__.c, CommentScanMark.__table__.c  # type: ignore[attr-defined]
    parts = (
        select(func.coalesce(func.sum(su.n), 0)).where(
            su.campaign_id == campaign_id, su.question_key == RESPONSE_KEY
        ),
        select(func.max(mark.response_id)).where(mark.campaign_id == campaign_id),
        select(func.max(mark.responses)).where(mark.campaign_id == campaign_id),
        select(func.max(mark.updated_at)).where(mark.campaign_id == campaign_id),
        select(func.count()).select_from(Ballot),
        select(func.count()).select_from(ProjectUpdate),
    )
    with engine.connect() as conn:
        return tuple(conn.execute(select(*(p.scalar_subquery() for p in parts))).one())
