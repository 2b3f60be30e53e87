"""Subjects, and what the results of a democratic evaluation read (configuration, subjects of a
campaign, grades). Functions flush and never commit; those taking an ``actor`` are an officer's
writes and append the audit entry themselves."""

from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import func
from sqlmodel import Session, col, select

from service import audit
from service.db import stored_id
from service.errors import Conflict, Invalid, NotFound
from surveys.evaluation.config import EvaluationConfig, default_config
from surveys.evaluation.models import (
    GRADE_TABLE,
    KIND,
    RESPONSE_TABLE,
    EvaluationCampaignSubject,
    EvaluationResponse,
    EvaluationSubject,
    SubjectKind,
)
from surveys.evaluation.schemas import (
    SheetPublic,
    SheetSubject,
    SubjectCreate,
    SubjectPublic,
    SubjectUpdate,
)
from surveys.forms.models import Campaign, Invitation
from surveys.units.models import Unit

# ---------------------------------------------------------------- reads for the results


def is_evaluation(campaign: Campaign) -> bool:
    """Whether the campaign is a democratic evaluation (民主测评)."""
    return campaign.kind == KIND


def evaluation_config(campaign: Campaign) -> EvaluationConfig:
    """The campaign's configuration (the default one if it stored none)."""
    if campaign.evaluation is None:
        return default_config()
    return EvaluationConfig.model_validate(campaign.evaluation)


def subjects(
    session: Session,
    *,
    kind: SubjectKind | None = None,
    active: bool | None = None,
    ids: list[int] | None = None,
) -> list[EvaluationSubject]:
    """Subjects, teams first then leaders, by name."""
    q = select(EvaluationSubject)
    if kind is not None:
        q = q.where(EvaluationSubject.kind == kind)
    if active is not None:
        q = q.where(EvaluationSubject.is_active == active)
    if ids is not None:
        q = q.where(col(EvaluationSubject.id).in_(ids))
    q = q.order_by(col(EvaluationSubject.kind).desc(), col(EvaluationSubject.name))
    return list(session.exec(q))


def campaign_subjects(session: Session, *, campaign_id: int) -> list[EvaluationSubject]:
    """The subjects a campaign rates, in the order raters see them."""
    return list(
        session.exec(
            select(EvaluationSubject)
            .join(
                EvaluationCampaignSubject,
                col(EvaluationCampaignSubject.subject_id) == EvaluationSubject.id,
            )
            .where(EvaluationCampaignSubject.campaign_id == campaign_id)
            .order_by(col(EvaluationCampaignSubject.position))
        )
    )


class GradeRow(NamedTuple):
    """One grade given: by a rater of ``rater_group``, to ``subject_id``'s ``item``."""

    rater_group: str
    subject_id: int
    item: str
    grade: str
    # Groups the grades of one rater's sheet (for intervals that resample raters); random-free
    # but meaningless outside the campaign, it identifies no one.
    response_id: int


def grade_rows(session: Session, *, campaign_id: int) -> list[GradeRow]:
    """Every grade of a campaign, by response, subject and item."""
    r, g = RESPONSE_TABLE.c, GRADE_TABLE.c
    rows = session.execute(
        sa.select(r.rater_group, g.subject_id, g.item, g.grade, g.response_id)
        .join_from(GRADE_TABLE, RESPONSE_TABLE, r.id == g.response_id)
        .where(r.campaign_id == campaign_id)
        .order_by(g.response_id, g.subject_id, g.item)
    )
    return [GradeRow(*row) for row in rows]


class GradeCount(NamedTuple):
    rater_group: str
    subject_id: int
    item: str
    grade: str
    n: int


def grade_counts(session: Session, *, campaign_id: int) -> list[GradeCount]:
    """Grades counted in SQL per rater group, subject, item and grade."""
    r, g = RESPONSE_TABLE.c, GRADE_TABLE.c
    keys = (r.rater_group, g.subject_id, g.item, g.grade)
    rows = session.execute(
        sa.select(*keys, func.count())
        .join_from(GRADE_TABLE, RESPONSE_TABLE, r.id == g.response_id)
        .where(r.campaign_id == campaign_id)
        .group_by(*keys)
        .order_by(*keys)
    )
    return [GradeCount(a, b, c, d, int(n)) for a, b, c, d, n in rows]


def responses_per_group(session: Session, *, campaign_id: int) -> dict[str, int]:
    """How many raters of each group answered."""
    rows = session.exec(
        select(EvaluationResponse.rater_group, func.count())
        .where(EvaluationResponse.campaign_id == campaign_id)
        .group_by(EvaluationResponse.rater_group)
    )
    return {g: int(n) for g, n in rows}


def codes_per_group(session: Session, *, campaign_id: int) -> dict[str, int]:
    """How many invitation codes each rater group was issued."""
    rows = session.exec(
        select(Invitation.rater_group, func.count())
        .where(Invitation.campaign_id == campaign_id, col(Invitation.rater_group).is_not(None))
        .group_by(col(Invitation.rater_group))
    )
    return {str(g): int(n) for g, n in rows}


def sheet_public(session: Session, *, campaign: Campaign) -> SheetPublic:
    """A rater's sheet: the configuration and the subjects with their units; 404 unless the
    campaign is a democratic evaluation."""
    if not is_evaluation(campaign):
        raise NotFound("No democratic evaluation with this id")
    rows = campaign_subjects(session, campaign_id=stored_id(campaign))
    units = {
        u.id: u.name
        for u in session.exec(select(Unit).where(col(Unit.id).in_([s.unit_id for s in rows])))
    }
    return SheetPublic(
        campaign_id=stored_id(campaign),
        title=campaign.title,
        title_en=campaign.title_en,
        closes_at=campaign.closes_at,
        evaluation=evaluation_config(campaign).model_dump(mode="json"),
        evaluation_hash=campaign.evaluation_hash,
        subjects=[
            SheetSubject(
                id=stored_id(s),
                kind=s.kind,
                name=s.name,
                post=s.post,
                unit_name=units.get(s.unit_id),
            )
            for s in rows
        ],
    )


# ---------------------------------------------------------------- subjects


def _unit_id(session: Session, code: str | None, loc: tuple[str | int, ...]) -> int | None:
    if not code:
        return None
    uid = session.exec(select(Unit.id).where(Unit.code == code)).first()
    if uid is None:
        raise Invalid.field(loc, f"unknown unit code '{code}'")
    return uid


def subject_public(session: Session, subject: EvaluationSubject) -> SubjectPublic:
    """A subject with its unit's code and name."""
    unit = session.get(Unit, subject.unit_id) if subject.unit_id is not None else None
    return SubjectPublic(
        id=stored_id(subject),
        kind=subject.kind,
        name=subject.name,
        post=subject.post,
        unit_id=subject.unit_id,
        unit_code=unit.code if unit else None,
        unit_name=unit.name if unit else None,
        term_start=subject.term_start,
        term_end=subject.term_end,
        is_active=subject.is_active,
        created_at=subject.created_at,
    )


def subjects_public(session: Session, rows: list[EvaluationSubject]) -> list[SubjectPublic]:
    """Subjects with their units' codes and names."""
    return [subject_public(session, s) for s in rows]


def create_subject(session: Session, *, data: SubjectCreate, actor: str) -> EvaluationSubject:
    """Add a subject, audited; 409 when the same kind, name, post and unit exist already."""
    unit_id = _unit_id(session, data.unit_code, ("body", "unit_code"))
    same = session.exec(
        select(EvaluationSubject.id).where(
            EvaluationSubject.kind == data.kind,
            EvaluationSubject.name == data.name,
            EvaluationSubject.post == data.post,
            EvaluationSubject.unit_id == unit_id,
        )
    ).first()
    if same is not None:
        raise Conflict(f"Subject '{data.name}' ({data.post or data.kind.value}) already exists")
    subject = EvaluationSubject(
        kind=data.kind,
        name=data.name,
        post=data.post,
        unit_id=unit_id,
        term_start=data.term_start,
        term_end=data.term_end,
    )
    session.add(subject)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="subject.create",
        target=f"subject:{subject.id}",
        name=data.name,
    )
    return subject


def update_subject(
    session: Session, *, subject: EvaluationSubject, data: SubjectUpdate, actor: str
) -> EvaluationSubject:
    """Change a subject, audited; ``unit_code`` "" clears its unit."""
    changes: dict[str, Any] = data.model_dump(exclude_unset=True)
    if "unit_code" in changes:
        code = changes.pop("unit_code")
        subject.unit_id = _unit_id(session, code, ("body", "unit_code"))
    for key, value in changes.items():
        if key in ("name", "kind", "is_active") and value is None:
            continue
        setattr(subject, key, "" if key == "post" and value is None else value)
    if subject.term_start and subject.term_end and subject.term_end < subject.term_start:
        raise Invalid.field(("body", "term_end"), "term_end is before term_start")
    session.add(subject)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="subject.update",
        target=f"subject:{subject.id}",
        fields=sorted(data.model_dump(exclude_unset=True)),
    )
    return subject
