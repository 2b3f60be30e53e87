"""A finalised assessment's results on file: computed once, when it is finalised, and stored
with their SHA-256 (``assessment_snapshot``); every later read serves them as stored.

Live results follow the data: subjects deactivated, units re-pointed, resident responses
imported or flagged, a democratic evaluation's sheets. A finalised assessment is a record
(a file, 档案), so it must not move with them. Finalising therefore also requires every
democratic evaluation it draws on to have closed: an open one would still take sheets.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlmodel import Session, col, select

from analytics.assessment import results as live
from analytics.assessment import service
from analytics.assessment.models import Assessment, AssessmentSnapshot
from analytics.assessment.schemas import AssessmentResult
from service.db import utcnow
from service.errors import Conflict
from service.localtime import DEFAULT_TIME_ZONE, local_time
from surveys.forms.models import Campaign

# The parts of a result that are stored; the assessment itself is read as it is now.
STORED = ("subjects", "scenarios", "method")


def canonical(payload: dict[str, Any]) -> str:
    """Keys sorted, no spaces, UTF-8 as is: the text the digest is of."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def open_evaluations(session: Session, *, assessment: Assessment) -> list[Campaign]:
    """The democratic evaluations the assessment draws on that have not closed yet."""
    ids = assessment.config.get("evaluation_campaign_ids") or []
    if not ids:
        return []
    now = utcnow()
    rows = session.exec(select(Campaign).where(col(Campaign.id).in_(ids))).all()
    return sorted((c for c in rows if now < c.closes_at), key=lambda c: c.id or 0)


def finalise(
    session: Session, *, assessment: Assessment, actor: str, min_group_size: int
) -> AssessmentSnapshot:
    """Freeze the configuration and scores (``service.finalise_assessment``) and store the
    results as computed now; 409 naming the democratic evaluations still open."""
    service.check_open(assessment)
    still = open_evaluations(session, assessment=assessment)
    if still:
        names = ", ".join(f"#{c.id} {c.title}" for c in still)
        raise Conflict(
            f"民主测评尚未结束，不能定稿：{names} "
            f"(these democratic evaluations have not closed: {names})",
            reason="evaluations_open",
            campaign_ids=[c.id for c in still],
        )
    result = live.compute_results(session, assessment=assessment, min_group_size=min_group_size)
    payload = {key: value for key, value in result.model_dump(mode="json").items() if key in STORED}
    payload["min_group_size"] = min_group_size
    body = canonical(payload)
    digest = hashlib.sha256(body.encode()).hexdigest()
    service.finalise_assessment(session, assessment=assessment, actor=actor, snapshot_sha256=digest)
    assert assessment.id is not None
    row = AssessmentSnapshot(assessment_id=assessment.id, body=body, sha256=digest)
    session.add(row)
    session.flush()
    return row


def stored(session: Session, *, assessment: Assessment) -> AssessmentSnapshot | None:
    """The snapshot of a finalised assessment (None for a draft, or one finalised before
    snapshots were kept)."""
    if assessment.finalised_at is None or assessment.id is None:
        return None
    return session.get(AssessmentSnapshot, assessment.id)


def read_results(
    session: Session,
    *,
    assessment: Assessment,
    min_group_size: int,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> AssessmentResult:
    """The snapshot of a finalised assessment, or a draft's results computed now."""
    snap = stored(session, assessment=assessment)
    if snap is None:
        result = live.compute_results(session, assessment=assessment, min_group_size=min_group_size)
    else:
        data = json.loads(snap.body)
        result = AssessmentResult.model_validate(
            {
                "assessment": service.assessment_public(assessment),
                **{key: data[key] for key in STORED},
                "snapshot": True,
                "snapshot_sha256": snap.sha256,
            }
        )
    if assessment.finalised_at is not None:
        zone = time_zone or DEFAULT_TIME_ZONE
        result.finalised_at_local = f"{local_time(assessment.finalised_at, zone)} {zone}"
    return result


def view_results(
    session: Session,
    *,
    assessment: Assessment,
    actor: str,
    min_group_size: int,
    time_zone: str = DEFAULT_TIME_ZONE,
    subject_id: int | None = None,
) -> AssessmentResult:
    """The results (all subjects, or one) as a person reads them, the read audited."""
    result = read_results(
        session, assessment=assessment, min_group_size=min_group_size, time_zone=time_zone
    )
    if subject_id is not None:
        result.subjects = [s for s in result.subjects if s.subject_id == subject_id]
    live.record_view(session, assessment=assessment, actor=actor, subject_id=subject_id)
    return result
