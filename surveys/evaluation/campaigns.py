"""A democratic evaluation (民主测评) as a campaign: created with its configuration and subjects,
the configuration fixed and hashed once the campaign opens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, delete, select

from service import audit
from service.db import stored_id, utcnow
from service.errors import Conflict, Invalid, error_item
from surveys.evaluation.config import EvaluationConfig, default_config, frozen_hash, problems
from surveys.evaluation.models import (
    KIND,
    EvaluationCampaignSubject,
    EvaluationResponse,
    EvaluationSubject,
)
from surveys.forms.models import Access, Campaign, Survey
from surveys.forms.schemas import CampaignCreate


class Fixed(Conflict):
    """A change a democratic evaluation refuses once it opened, took a sheet, or closed: the
    message in zh-CN and en, ``reason`` and ``field`` for a form to name the field."""

    def __init__(self, reason: str, field: str, zh: str, en: str) -> None:
        super().__init__(f"{zh} ({en})", reason=reason, field=field, message_zh=zh, message_en=en)


def has_sheets(session: Session, *, campaign_id: int) -> bool:
    """Whether any rater's sheet is in."""
    q = select(EvaluationResponse.id).where(EvaluationResponse.campaign_id == campaign_id)
    return session.exec(q.limit(1)).first() is not None


def fixed_because(session: Session, *, campaign: Campaign, now: datetime) -> str | None:
    """Why the configuration can no longer change ("opened", "sheets"), or None."""
    if now >= campaign.opens_at:
        return "opened"
    if has_sheets(session, campaign_id=stored_id(campaign)):
        return "sheets"
    return None


def check_window(
    session: Session, *, campaign: Campaign, opens_at: datetime, closes_at: datetime
) -> None:
    """409 when a new window would reopen a closed evaluation or move the opening of one that
    has opened (or has a sheet) later: either would unfreeze what raters answered, or change
    the results an annual assessment drew on. Resident campaigns are not checked here."""
    if campaign.kind != KIND:
        return
    now = utcnow()
    if now >= campaign.closes_at and closes_at > now:
        raise Fixed(
            "closed",
            "closes_at",
            "民主测评已结束，不能重新开放",
            "the democratic evaluation has closed and cannot be reopened",
        )
    why = fixed_because(session, campaign=campaign, now=now)
    if why is not None and opens_at > campaign.opens_at:
        raise Fixed(
            why,
            "opens_at",
            ("民主测评已开始" if why == "opened" else "民主测评已收到测评表")
            + "，开始时间不能推后",
            "the democratic evaluation has "
            + ("opened" if why == "opened" else "sheets in")
            + ": its opening cannot be moved later",
        )


def checked_config(raw: dict[str, Any] | None, loc: tuple[str, ...]) -> EvaluationConfig:
    """The configuration, or a 422 naming each bad field under ``loc``."""
    if raw is None:
        return default_config()
    try:
        cfg = EvaluationConfig.model_validate(raw)
    except ValidationError as e:
        raise Invalid(
            [error_item([*loc, *e_["loc"]], e_["msg"]) for e_ in e.errors(include_url=False)]
        ) from None
    found = problems(cfg)
    if found:
        raise Invalid([error_item([*loc, *where], why) for where, why in found])
    return cfg


def _check_subjects(session: Session, ids: list[int]) -> None:
    if not ids:
        raise Invalid.field(("body", "subject_ids"), "give at least one subject")
    known = dict(
        session.exec(
            select(EvaluationSubject.id, EvaluationSubject.is_active).where(
                col(EvaluationSubject.id).in_(ids)
            )
        ).all()
    )
    errors = []
    seen: set[int] = set()
    for i, sid in enumerate(ids):
        if sid in seen:
            errors.append(error_item(["body", "subject_ids", i], "subject given twice"))
        elif sid not in known:
            errors.append(error_item(["body", "subject_ids", i], f"no subject with id {sid}"))
        elif not known[sid]:
            errors.append(error_item(["body", "subject_ids", i], f"subject {sid} is deactivated"))
        seen.add(sid)
    if errors:
        raise Invalid(errors)


def _set_subjects(session: Session, campaign_id: int, ids: list[int]) -> None:
    session.exec(
        delete(EvaluationCampaignSubject).where(
            col(EvaluationCampaignSubject.campaign_id) == campaign_id
        )
    )
    for pos, sid in enumerate(ids):
        session.add(
            EvaluationCampaignSubject(campaign_id=campaign_id, subject_id=sid, position=pos)
        )
    session.flush()


def create_campaign(session: Session, *, data: CampaignCreate) -> Campaign:
    """Create a democratic evaluation: its configuration checked (422 naming each bad field),
    its subjects, and a questionless questionnaire so the campaign is like any other."""
    cfg = checked_config(data.evaluation, ("body", "evaluation"))
    _check_subjects(session, data.subject_ids)
    if data.unit_codes:
        raise Invalid.field(("body", "unit_codes"), "a democratic evaluation rates subjects")
    config = cfg.model_dump(mode="json")
    # Raters answer the configuration, not questions: the questionnaire is a frozen shell.
    survey = Survey(title=data.title, title_en=data.title_en, description="民主测评", frozen=True)
    session.add(survey)
    session.flush()
    campaign = Campaign(
        survey_id=stored_id(survey),
        title=data.title,
        title_en=data.title_en,
        opens_at=data.opens_at,
        closes_at=data.closes_at,
        # Raters are known bodies (班子成员, 干部职工...): every sheet comes with a code.
        access=Access.invitation,
        profile_fields=[],
        kind=KIND,
        evaluation=config,
        evaluation_hash=frozen_hash(config),
    )
    session.add(campaign)
    session.flush()
    _set_subjects(session, stored_id(campaign), data.subject_ids)
    return campaign


def update_configuration(
    session: Session,
    *,
    campaign: Campaign,
    evaluation: dict[str, Any] | None,
    subject_ids: list[int] | None,
    actor: str,
) -> Campaign:
    """Change the configuration or the subjects before the campaign opens; 409 after, since
    what raters answered must stay what is counted (the hash shows it)."""
    if campaign.kind != KIND:
        raise Conflict("This campaign is not a democratic evaluation")
    why = fixed_because(session, campaign=campaign, now=utcnow())
    if why is not None:
        raise Fixed(
            why,
            "evaluation",
            "民主测评已" + ("开始" if why == "opened" else "收到测评表") + "，配置和测评对象已固定",
            "The campaign has "
            + ("opened" if why == "opened" else "sheets in")
            + ": its configuration and subjects are fixed",
        )
    if evaluation is not None:
        config = checked_config(evaluation, ("body", "evaluation")).model_dump(mode="json")
        campaign.evaluation = config
        campaign.evaluation_hash = frozen_hash(config)
    if subject_ids is not None:
        _check_subjects(session, subject_ids)
        _set_subjects(session, stored_id(campaign), subject_ids)
    session.add(campaign)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="campaign.evaluation",
        target=str(campaign.id),
        evaluation_hash=campaign.evaluation_hash,
        subjects=subject_ids,
    )
    return campaign
