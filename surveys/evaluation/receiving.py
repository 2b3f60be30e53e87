"""A rater's sheet: checked against the campaign's configuration and subjects, stored with the
code redeemed in the same transaction. What is stored is the rater group, the hour and the
grades: not the code, the address or the exact time, exactly as for a resident's response."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from service.db import stored_id, utcnow
from service.errors import Conflict, Gone, Invalid, NotFound, error_item
from surveys.evaluation.config import EvaluationConfig
from surveys.evaluation.models import GRADE_TABLE, EvaluationResponse, EvaluationSubject
from surveys.evaluation.service import campaign_subjects, evaluation_config, is_evaluation
from surveys.forms import abuse
from surveys.forms.models import INVITATION_TABLE, Campaign
from surveys.forms.service import status_at


def ensure_open(campaign: Campaign, now: datetime) -> None:
    """404 unless a democratic evaluation; 409 before its window, 410 after."""
    if not is_evaluation(campaign):
        raise NotFound("No democratic evaluation with this id")
    status = status_at(campaign.opens_at, campaign.closes_at, now)
    if status == "scheduled":
        raise Conflict("This evaluation is not open yet")
    if status == "closed":
        raise Gone("This evaluation has closed")


def _checked(
    cfg: EvaluationConfig, subjects: list[EvaluationSubject], grades: dict[str, dict[str, str]]
) -> list[tuple[int, str, str]]:
    """(subject, item, grade) for every subject and question, or a 422 naming each gap."""
    allowed = set(cfg.grade_keys())
    ids = {str(stored_id(s)): stored_id(s) for s in subjects}
    errors = [
        error_item(["body", "grades", k], "not a subject of this evaluation")
        for k in grades
        if k not in ids
    ]
    out = []
    for key, sid in ids.items():
        given = grades.get(key, {})
        errors += [
            error_item(["body", "grades", key, q], "not an item of this evaluation")
            for q in given
            if q not in cfg.questions()
        ]
        for q in cfg.questions():
            g = given.get(q)
            if g is None:
                errors.append(error_item(["body", "grades", key, q], "a grade is required"))
            elif g not in allowed:
                errors.append(
                    error_item(["body", "grades", key, q], "one of: " + ", ".join(sorted(allowed)))
                )
            else:
                out.append((sid, q, g))
    if errors:
        raise Invalid(errors)
    return out


def _redeem(session: Session, *, campaign_id: int, code_hash: str) -> str:
    """Mark the code used and return its rater group; ``used = false`` in the WHERE makes a
    racing second submission with the same code lose (409)."""
    inv = INVITATION_TABLE.c
    group = session.execute(
        sa.update(INVITATION_TABLE)
        .where(inv.campaign_id == campaign_id, inv.code_hash == code_hash, inv.used.is_(False))
        .values(used=True)
        .returning(inv.rater_group)
    ).scalar_one_or_none()
    if group is not None:
        return str(group)
    known = session.execute(
        sa.select(inv.id).where(inv.campaign_id == campaign_id, inv.code_hash == code_hash)
    ).first()
    if known is not None:
        raise Conflict("This invitation code has already been used")
    raise Invalid.field(("body", "invitation_code"), "unknown invitation code")


def submit_sheet(
    session: Session,
    *,
    campaign: Campaign,
    code: str,
    grades: dict[str, dict[str, str]],
    secret: str,
) -> None:
    """Store one rater's grades of every subject, redeeming the code (once) in this transaction."""
    now = utcnow()
    ensure_open(campaign, now)
    cid = stored_id(campaign)
    # A read first: a used or unknown code is refused without asking for the write lock, so a
    # burst of replays of one code queues no writers behind the one that wins.
    check_code(session, campaign=campaign, code=code, secret=secret)
    rows = _checked(
        evaluation_config(campaign), campaign_subjects(session, campaign_id=cid), grades
    )
    group = _redeem(session, campaign_id=cid, code_hash=abuse.code_hash(secret, code))
    response = EvaluationResponse(
        campaign_id=cid,
        rater_group=group,
        submitted_hour=now.replace(minute=0, second=0, microsecond=0),
    )
    session.add(response)
    session.flush()
    rid = stored_id(response)
    session.execute(
        sa.insert(GRADE_TABLE),
        [{"response_id": rid, "subject_id": s, "item": q, "grade": g} for s, q, g in rows],
    )


def check_code(session: Session, *, campaign: Campaign, code: str, secret: str) -> str:
    """The rater group of an unused code of this campaign; 422 unknown, 409 used."""
    inv = INVITATION_TABLE.c
    row = session.execute(
        sa.select(inv.rater_group, inv.used).where(
            inv.campaign_id == stored_id(campaign), inv.code_hash == abuse.code_hash(secret, code)
        )
    ).first()
    if row is None or row[0] is None:
        raise Invalid.field(("body", "invitation_code"), "unknown invitation code")
    if row[1]:
        raise Conflict("This invitation code has already been used")
    return str(row[0])
