"""Questionnaires, campaigns, invitations, and purging closed campaigns' abuse data.

The public form and receiving a response are in ``receiving.py``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Integer, func, insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from service import audit
from service.db import stored_id, utcnow
from service.errors import Conflict, Gone, Invalid, error_item
from service.localtime import DEFAULT_TIME_ZONE, local_time
from surveys.evaluation import campaigns as evaluation_campaigns
from surveys.forms import abuse
from surveys.forms.exports import public_id
from surveys.forms.models import (
    INVITATION_TABLE,
    RESPONSE_TABLE,
    Access,
    Campaign,
    CampaignUnit,
    Question,
    Survey,
    SurveyResponse,
)
from surveys.forms.schemas import (
    CampaignCreate,
    CampaignPublic,
    CampaignUpdate,
    QuestionIn,
    QuestionPublic,
    SurveyCreate,
    SurveyPublic,
    SurveySummary,
)
from surveys.units.models import Unit

# Batch labels are read by the district's staff, in the district's time.

# ---------------------------------------------------------------- questionnaires


def _add_questions(session: Session, survey_id: int, questions: list[QuestionIn]) -> None:
    for pos, q in enumerate(questions, start=1):
        session.add(Question(survey_id=survey_id, position=pos, **q.model_dump()))


def create_survey(
    session: Session, *, data: SurveyCreate, previous: Survey | None = None
) -> Survey:
    """Create a questionnaire (or, given ``previous``, its next version)."""
    survey = Survey(
        title=data.title,
        title_en=data.title_en,
        description=data.description,
        version=previous.version + 1 if previous else 1,
        previous_id=previous.id if previous else None,
    )
    session.add(survey)
    session.flush()
    assert survey.id is not None
    _add_questions(session, survey.id, data.questions)
    session.flush()
    return survey


def survey_has_responses(session: Session, *, survey_id: int) -> bool:
    """True once any campaign of this questionnaire has stored a response."""
    q = (
        select(SurveyResponse.id)
        .join(Campaign, col(Campaign.id) == SurveyResponse.campaign_id)
        .where(Campaign.survey_id == survey_id)
        .limit(1)
    )
    return session.exec(q).first() is not None


def update_survey(session: Session, *, survey: Survey, data: SurveyCreate) -> tuple[Survey, bool]:
    """Edit in place while no response exists; otherwise freeze it and create a new version.

    Returns the questionnaire now holding the edit and whether it is a new version.
    """
    # Lock the row so the response writer's freeze and this edit cannot interleave.
    locked = session.exec(select(Survey).where(Survey.id == survey.id).with_for_update()).one()
    if locked.frozen or survey_has_responses(session, survey_id=locked.id or 0):
        locked.frozen = True
        session.add(locked)
        return create_survey(session, data=data, previous=locked), True
    locked.title, locked.title_en, locked.description = data.title, data.title_en, data.description
    for q in session.exec(select(Question).where(Question.survey_id == locked.id)):
        session.delete(q)
    session.flush()
    assert locked.id is not None
    _add_questions(session, locked.id, data.questions)
    session.flush()
    return locked, False


def questions_of(session: Session, *, survey_id: int) -> list[Question]:
    """A questionnaire's questions in order."""
    return list(
        session.exec(
            select(Question).where(Question.survey_id == survey_id).order_by(col(Question.position))
        )
    )


def _question_public(q: Question) -> QuestionPublic:
    return QuestionPublic.model_validate(q, from_attributes=True)


def survey_public(session: Session, *, survey: Survey) -> SurveyPublic:
    """A questionnaire with its questions."""
    questions = [_question_public(q) for q in questions_of(session, survey_id=survey.id or 0)]
    return SurveyPublic(
        **survey.model_dump(include={"id", "title", "title_en", "version", "previous_id"}),
        frozen=survey.frozen,
        created_at=survey.created_at,
        description=survey.description,
        question_count=len(questions),
        questions=questions,
    )


def list_surveys(session: Session) -> list[SurveySummary]:
    """Every questionnaire version, newest first."""
    counts = dict(
        session.exec(
            select(Question.survey_id, func.count()).group_by(col(Question.survey_id))
        ).all()
    )
    return [
        SurveySummary(
            id=stored_id(s),
            title=s.title,
            title_en=s.title_en,
            version=s.version,
            previous_id=s.previous_id,
            frozen=s.frozen,
            created_at=s.created_at,
            question_count=counts.get(stored_id(s), 0),
        )
        for s in session.exec(select(Survey).order_by(col(Survey.id).desc()))
    ]


# ---------------------------------------------------------------- campaigns


def status_at(opens_at: datetime, closes_at: datetime, now: datetime) -> str:
    """scheduled, open or closed."""
    if now < opens_at:
        return "scheduled"
    if now >= closes_at:
        return "closed"
    return "open"


def _dimensions(session: Session, survey_id: int) -> set[str]:
    return {q.dimension for q in questions_of(session, survey_id=survey_id) if q.dimension}


def _check_weights(session: Session, survey_id: int, weights: dict[str, float] | None) -> None:
    if not weights:
        return
    known = _dimensions(session, survey_id)
    errors = [
        error_item(["body", "dimension_weights", k], "not a dimension of the questionnaire")
        for k in weights
        if k not in known
    ]
    errors += [
        error_item(["body", "dimension_weights", k], "must be zero or more")
        for k, v in weights.items()
        if v < 0
    ]
    if errors:
        raise Invalid(errors)


def create_campaign(session: Session, *, data: CampaignCreate) -> Campaign:
    """Create a campaign over existing units; 422 names every unknown unit code."""
    if data.survey_id is None:
        raise Invalid.field(("body", "survey_id"), "a resident survey needs its questionnaire")
    if session.get(Survey, data.survey_id) is None:
        raise Invalid.field(("body", "survey_id"), "no questionnaire with this id")
    if not data.unit_codes:
        raise Invalid.field(("body", "unit_codes"), "give at least one unit")
    rows = session.exec(select(Unit.code, Unit.id).where(col(Unit.code).in_(data.unit_codes)))
    # A stored unit always has an id; the filter only tells the type checker so.
    units = {code: uid for code, uid in rows if uid is not None}
    missing = [
        error_item(["body", "unit_codes", i], f"unknown unit code '{c}'")
        for i, c in enumerate(data.unit_codes)
        if c not in units
    ]
    # A deactivated unit keeps its past results but is not asked about again.
    inactive = set(
        session.exec(
            select(Unit.code).where(col(Unit.code).in_(data.unit_codes), ~col(Unit.is_active))
        )
    )
    missing += [
        error_item(["body", "unit_codes", i], f"unit '{c}' is deactivated")
        for i, c in enumerate(data.unit_codes)
        if c in inactive
    ]
    if missing:
        raise Invalid(missing)
    _check_weights(session, data.survey_id, data.dimension_weights)
    campaign = Campaign(
        survey_id=data.survey_id,
        title=data.title,
        title_en=data.title_en,
        opens_at=data.opens_at,
        closes_at=data.closes_at,
        access=data.access,
        profile_fields=list(data.profile_fields),
        dimension_weights=data.dimension_weights,
        margins=data.margins,
    )
    session.add(campaign)
    session.flush()
    for code in data.unit_codes:
        session.add(CampaignUnit(campaign_id=stored_id(campaign), unit_id=units[code]))
    session.flush()
    return campaign


def update_campaign(session: Session, *, campaign: Campaign, data: CampaignUpdate) -> Campaign:
    """Change a campaign's title, window, profile questions, weights or margins."""
    changes = data.model_dump(exclude_unset=True)
    opens = changes.get("opens_at", campaign.opens_at)
    closes = changes.get("closes_at", campaign.closes_at)
    if closes <= opens:
        raise Invalid.field(("body", "closes_at"), "closes_at must be after opens_at")
    # A democratic evaluation's configuration is frozen by its window: the window must not
    # move so that it thaws (409). A resident questionnaire freezes on its first response
    # whatever the window, so the window alone cannot thaw it.
    evaluation_campaigns.check_window(session, campaign=campaign, opens_at=opens, closes_at=closes)
    if "dimension_weights" in changes:
        _check_weights(session, campaign.survey_id, data.dimension_weights)
    for key, value in changes.items():
        if key == "title_en" and value is None:
            value = ""
        setattr(campaign, key, value)
    if closes > utcnow():
        campaign.purged_at = None  # reopened: abuse detection starts counting again
    session.add(campaign)
    session.flush()
    return campaign


def _counts(session: Session, campaign_ids: list[int]) -> dict[int, tuple[int, int]]:
    if not campaign_ids:
        return {}
    rows = session.exec(
        select(
            RESPONSE_TABLE.c.campaign_id,
            func.count(),
            func.coalesce(func.sum(func.cast(RESPONSE_TABLE.c.flagged, Integer)), 0),
        )
        .where(RESPONSE_TABLE.c.campaign_id.in_(campaign_ids))
        .group_by(RESPONSE_TABLE.c.campaign_id)
    ).all()
    return {cid: (int(n), int(f)) for cid, n, f in rows}


def campaign_units(session: Session, *, campaign_id: int) -> list[Unit]:
    """The units a campaign asks about, in the order they were given."""
    return list(
        session.exec(
            select(Unit)
            .join(CampaignUnit, col(CampaignUnit.unit_id) == Unit.id)
            .where(CampaignUnit.campaign_id == campaign_id)
            .order_by(col(Unit.id))
        )
    )


def _public(
    c: Campaign, codes: list[str], counts: tuple[int, int], now: datetime
) -> CampaignPublic:
    return CampaignPublic(
        id=c.id or 0,
        survey_id=c.survey_id,
        title=c.title,
        title_en=c.title_en,
        opens_at=c.opens_at,
        closes_at=c.closes_at,
        access=c.access,
        status=status_at(c.opens_at, c.closes_at, now),
        unit_codes=codes,
        profile_fields=c.profile_fields or [],
        dimension_weights=c.dimension_weights,
        margins=c.margins,
        purged_at=c.purged_at,
        created_at=c.created_at,
        response_count=counts[0],
        flagged_count=counts[1],
        kind=c.kind,
        evaluation_hash=c.evaluation_hash,
    )


def campaign_public(session: Session, *, campaign: Campaign) -> CampaignPublic:
    """A campaign with its unit codes and response counts."""
    cid = campaign.id or 0
    codes = [u.code for u in campaign_units(session, campaign_id=cid)]
    return _public(campaign, codes, _counts(session, [cid]).get(cid, (0, 0)), utcnow())


def list_campaigns(session: Session) -> list[CampaignPublic]:
    """Every campaign, newest first, with unit codes and response counts."""
    campaigns = list(session.exec(select(Campaign).order_by(col(Campaign.id).desc())))
    ids = [c.id or 0 for c in campaigns]
    codes: dict[int, list[str]] = {}
    if ids:
        for cid, code in session.exec(
            select(CampaignUnit.campaign_id, Unit.code)
            .join(Unit, col(Unit.id) == CampaignUnit.unit_id)
            .where(col(CampaignUnit.campaign_id).in_(ids))
            .order_by(col(Unit.id))
        ):
            codes.setdefault(cid, []).append(code)
    counts = _counts(session, ids)
    now = utcnow()
    return [
        _public(c, codes.get(c.id or 0, []), counts.get(c.id or 0, (0, 0)), now) for c in campaigns
    ]


def new_code() -> str:
    """A one-time invitation code, e.g. ``K7M3-Q9XH-T2AB`` (60 random bits)."""
    raw = "".join(secrets.choice(abuse.CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def create_invitations(
    session: Session,
    *,
    campaign: Campaign,
    count: int,
    secret: str,
    batch: str | None = None,
    time_zone: str = DEFAULT_TIME_ZONE,
    rater_group: str | None = None,
) -> list[str]:
    """Create one-time codes; only their keyed hashes are stored, so this is the only copy.

    ``batch`` labels the print run (for the response rate per batch); without one the label is
    the time of creation in the office's zone ``time_zone``, ``YYYY-MM-DD HH:MM``.
    """
    if campaign.access != Access.invitation:
        raise Conflict("This campaign is open to everyone; it takes no invitation codes")
    if utcnow() >= campaign.closes_at:
        raise Gone("This campaign has closed")
    # A democratic evaluation's code belongs to one rater group; a resident's code to none.
    groups = [g["key"] for g in (campaign.evaluation or {}).get("groups", [])]
    if campaign.evaluation is not None and rater_group not in groups:
        raise Invalid.field(("body", "rater_group"), "one of the groups: " + ", ".join(groups))
    if campaign.evaluation is None and rater_group is not None:
        raise Invalid.field(("body", "rater_group"), "only a democratic evaluation has groups")
    label = (batch or "").strip() or local_time(utcnow(), time_zone)
    codes = [new_code() for _ in range(count)]
    session.connection().execute(
        insert(INVITATION_TABLE),
        [
            {
                "campaign_id": campaign.id,
                "code_hash": abuse.code_hash(secret, c),
                "used": False,
                "batch": label,
                "rater_group": rater_group,
            }
            for c in codes
        ],
    )
    return codes


def invitation_counts(session: Session, *, campaign_id: int) -> tuple[int, int]:
    """(codes issued, codes used)."""
    row = session.exec(
        select(
            func.count(),
            func.coalesce(func.sum(func.cast(INVITATION_TABLE.c.used, Integer)), 0),
        ).where(INVITATION_TABLE.c.campaign_id == campaign_id)
    ).one()
    return int(row[0]), int(row[1])


def purge_closed_campaigns(session: Session, *, campaign_id: int | None = None) -> list[int]:
    """Delete the abuse-detection data of closed campaigns (idempotent)."""
    return abuse.purge_closed(session.connection(), now=utcnow(), campaign_id=campaign_id)


def purge_and_record(session: Session, *, actor: str, campaign_id: int | None = None) -> list[int]:
    """Purge closed campaigns and record a ``campaign.purge`` audit entry for each one purged."""
    ids = purge_closed_campaigns(session, campaign_id=campaign_id)
    for cid in ids:
        audit.record(session, actor=actor, action="campaign.purge", target=str(cid))
    return ids


def purge_committed(engine: Engine, *, campaign_id: int | None = None) -> list[int]:
    """Purge closed campaigns in a transaction of its own (kept even if the caller fails)."""
    with Session(engine) as s:
        ids = purge_closed_campaigns(s, campaign_id=campaign_id)
        s.commit()
    return ids


def submission_exists(session: Session, *, campaign_id: int, keys: list[str]) -> set[str]:
    """Which of these submission keys are stored already."""
    if not keys:
        return set()
    return set(
        session.exec(
            select(SurveyResponse.submission_key)
            .where(SurveyResponse.campaign_id == campaign_id)
            .where(col(SurveyResponse.submission_key).in_(keys))
        )
    )


@dataclass(frozen=True)
class FlaggedRow:
    id: str  # the public id, as in the export
    unit_name: str
    submitted_hour: datetime
    flags: str
    comment: str | None


def flagged_responses(
    session: Session, *, campaign_id: int, secret: str, limit: int = 200
) -> list[FlaggedRow]:
    """The most recent flagged responses of a campaign (under their public ids), for admins."""
    # Five columns: more than sqlmodel's select is typed for, so SQLAlchemy's.
    rows = session.execute(
        sa.select(
            col(SurveyResponse.id),
            col(Unit.name),
            col(SurveyResponse.submitted_hour),
            col(SurveyResponse.flags),
            col(SurveyResponse.comment),
        )
        .join(Unit, col(Unit.id) == col(SurveyResponse.unit_id))
        .where(col(SurveyResponse.campaign_id) == campaign_id)
        .where(col(SurveyResponse.flagged).is_(True))
        .order_by(col(SurveyResponse.id).desc())
        .limit(limit)
    ).all()
    return [FlaggedRow(public_id(secret, rid), *rest) for rid, *rest in rows]
