"""Assessments and the scores staff enter: create, configure, finalise; every write audited.

Once finalised, an assessment's configuration is frozen and hashed (SHA-256 of its canonical
JSON, as a voting session's rules) and its entered scores can no longer change; its results
are stored as computed then (``analytics.assessment.snapshot``), so the composite on file
does not move with later data."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from analytics.assessment.models import Assessment, AssessmentScore
from analytics.assessment.schemas import (
    AssessmentConfig,
    AssessmentCreate,
    AssessmentPublic,
    AssessmentUpdate,
    ScoreCreate,
    ScorePublic,
)
from service import audit
from service.db import utcnow
from service.errors import Conflict, Invalid, NotFound
from surveys.evaluation.models import EvaluationSubject
from surveys.forms.models import Campaign
from surveys.voting.rules import config_hash

CAMPAIGN_KINDS = {
    "public_campaign_ids": "resident",
    "evaluation_campaign_ids": "democratic_evaluation",
}


def _check_campaigns(session: Session, *, config: dict[str, Any]) -> None:
    """422 naming the field when a listed campaign is missing or of the other kind."""
    for field, kind in CAMPAIGN_KINDS.items():
        ids = config.get(field) or []
        rows = session.exec(select(Campaign).where(col(Campaign.id).in_(ids))).all() if ids else []
        found = {c.id: c for c in rows}
        for i, cid in enumerate(ids):
            campaign = found.get(cid)
            if campaign is None:
                raise Invalid.field(("body", field, i), f"campaign {cid} not found")
            if (getattr(campaign, "kind", None) or "resident") != kind:
                raise Invalid.field(("body", field, i), f"campaign {cid} is not of kind {kind}")


def _check_title_free(session: Session, *, year: int, title: str, other: int | None) -> None:
    row = session.exec(
        select(Assessment).where(Assessment.year == year, Assessment.title == title)
    ).first()
    if row is not None and row.id != other:
        raise Conflict(f"an assessment titled {title!r} exists for {year}")


def create_assessment(session: Session, *, data: AssessmentCreate, actor: str) -> Assessment:
    """A new assessment, its configuration still open."""
    config = AssessmentConfig(
        kind=data.kind,
        weights=data.weights,
        public_campaign_ids=data.public_campaign_ids,
        evaluation_campaign_ids=data.evaluation_campaign_ids,
    ).model_dump()
    _check_campaigns(session, config=config)
    _check_title_free(session, year=data.year, title=data.title, other=None)
    row = Assessment(year=data.year, title=data.title, config=config, created_by=actor)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="assessment.create",
        target=f"assessment:{row.id}",
        year=row.year,
        title=row.title,
        config=config,
    )
    return row


def check_open(assessment: Assessment) -> None:
    """409 once the assessment is finalised."""
    if assessment.finalised_at is not None:
        raise Conflict("the assessment is finalised: its configuration and scores are frozen")


def update_assessment(
    session: Session, *, assessment: Assessment, data: AssessmentUpdate, actor: str
) -> Assessment:
    """Change the title or configuration of an assessment not yet finalised (409 after)."""
    check_open(assessment)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    title = changes.pop("title", None)
    config = {**assessment.config, **changes}
    AssessmentConfig.model_validate(config)
    if config["kind"] != assessment.config["kind"] and list_scores(session, assessment=assessment):
        raise Invalid.field(("body", "kind"), "scores are entered for the other kind of subject")
    _check_campaigns(session, config=config)
    if title is not None:
        title = title.strip()
        if not title:
            raise Invalid.field(("body", "title"), "the title is empty")
        _check_title_free(session, year=assessment.year, title=title, other=assessment.id)
        assessment.title = title
    # A new dict: the JSON column notices a replaced value, not one changed in place.
    assessment.config = config
    session.add(assessment)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="assessment.update",
        target=f"assessment:{assessment.id}",
        title=assessment.title,
        config=config,
    )
    return assessment


def finalise_assessment(
    session: Session, *, assessment: Assessment, actor: str, snapshot_sha256: str | None = None
) -> Assessment:
    """Freeze the configuration and the entered scores; record the configuration's hash (and
    the stored results' digest: ``snapshot.finalise`` computes and stores them)."""
    check_open(assessment)
    assessment.config_hash = config_hash(assessment.config)
    assessment.finalised_at = utcnow()
    assessment.finalised_by = actor
    session.add(assessment)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="assessment.finalise",
        target=f"assessment:{assessment.id}",
        config_hash=assessment.config_hash,
        config=assessment.config,
        snapshot_sha256=snapshot_sha256,
    )
    return assessment


def assessment_public(assessment: Assessment) -> AssessmentPublic:
    """The API's view of an assessment."""
    assert assessment.id is not None
    return AssessmentPublic(
        id=assessment.id,
        year=assessment.year,
        title=assessment.title,
        config=AssessmentConfig.model_validate(assessment.config),
        config_hash=assessment.config_hash,
        finalised_at=assessment.finalised_at,
        finalised_by=assessment.finalised_by,
        created_by=assessment.created_by,
        created_at=assessment.created_at,
    )


def list_assessments(session: Session) -> list[AssessmentPublic]:
    """Every assessment, the newest year first."""
    rows = session.exec(
        select(Assessment).order_by(col(Assessment.year).desc(), col(Assessment.id).desc())
    ).all()
    return [assessment_public(a) for a in rows]


def subject_of_kind(
    session: Session, *, subject_id: int, kind: str, loc: tuple[str, ...]
) -> EvaluationSubject:
    """The subject, or a 422 naming loc when it does not exist or is of the other kind."""
    subject = session.get(EvaluationSubject, subject_id)
    if subject is None:
        raise Invalid.field(loc, f"subject {subject_id} not found")
    if str(getattr(subject.kind, "value", subject.kind)) != kind:
        raise Invalid.field(
            loc, f"subject {subject_id} is not a {kind}; this assessment rates {kind}s"
        )
    return subject


def add_score(
    session: Session, *, assessment: Assessment, data: ScoreCreate, actor: str
) -> AssessmentScore:
    """Enter one subject's score from one source (409 when it has one, or once finalised)."""
    check_open(assessment)
    kind = assessment.config["kind"]
    subject_of_kind(session, subject_id=data.subject_id, kind=kind, loc=("body", "subject_id"))
    existing = session.exec(
        select(AssessmentScore).where(
            AssessmentScore.assessment_id == assessment.id,
            AssessmentScore.subject_id == data.subject_id,
            AssessmentScore.source == data.source,
        )
    ).first()
    if existing is not None:
        raise Conflict("this subject already has a score from this source: delete it first")
    assert assessment.id is not None
    row = AssessmentScore(assessment_id=assessment.id, entered_by=actor, **data.model_dump())
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="assessment.score.create",
        target=f"assessment:{assessment.id}",
        subject_id=row.subject_id,
        source=row.source,
        score=row.score,
        ci_low=row.ci_low,
        ci_high=row.ci_high,
        source_text=row.source_text,
    )
    return row


def delete_score(session: Session, *, assessment: Assessment, score_id: int, actor: str) -> None:
    """Remove an entered score of an assessment not yet finalised."""
    check_open(assessment)
    row = session.get(AssessmentScore, score_id)
    if row is None or row.assessment_id != assessment.id:
        raise NotFound("score not found")
    audit.record(
        session,
        actor=actor,
        action="assessment.score.delete",
        target=f"assessment:{assessment.id}",
        subject_id=row.subject_id,
        source=row.source,
        score=row.score,
        source_text=row.source_text,
    )
    session.delete(row)
    session.flush()


def list_scores(session: Session, *, assessment: Assessment) -> list[ScorePublic]:
    """The entered scores of an assessment, by subject and source."""
    rows = session.exec(
        select(AssessmentScore, EvaluationSubject)
        .join(EvaluationSubject, col(EvaluationSubject.id) == AssessmentScore.subject_id)
        .where(AssessmentScore.assessment_id == assessment.id)
        .order_by(col(EvaluationSubject.name), col(AssessmentScore.source))
    ).all()
    return [ScorePublic(subject_name=subject.name, **score.model_dump()) for score, subject in rows]


def view_scores(session: Session, *, assessment: Assessment, actor: str) -> list[ScorePublic]:
    """The entered scores as a person reads them (API or console), the read audited: they
    are named subjects' scores, personnel files as much as the results are."""
    rows = list_scores(session, assessment=assessment)
    audit.record(
        session,
        actor=actor,
        action="assessment.scores.view",
        target=f"assessment:{assessment.id}",
        subjects=sorted({r.subject_id for r in rows}),
    )
    return rows


def campaign_choices(session: Session) -> dict[str, list[Campaign]]:
    """The campaigns an assessment may draw on, by field: resident surveys and 民主测评."""
    rows = session.exec(select(Campaign).order_by(col(Campaign.opens_at).desc())).all()
    out: dict[str, list[Campaign]] = {field: [] for field in CAMPAIGN_KINDS}
    for c in rows:
        kind = getattr(c, "kind", None) or "resident"
        for field, wanted in CAMPAIGN_KINDS.items():
            if kind == wanted:
                out[field].append(c)
    return out


def assessments_using(session: Session, *, campaign_id: int, kind: str) -> list[AssessmentPublic]:
    """The assessments of a kind of subject that draw on a democratic evaluation."""
    return [
        a
        for a in list_assessments(session)
        if a.config.kind == kind and campaign_id in a.config.evaluation_campaign_ids
    ]
