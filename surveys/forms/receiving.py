"""The public form and receiving a response: what a resident's client sees and posts.

Nothing here knows the web framework: the routes hand in the engine, the server secret, the
form cache and the response writer, all built once when the app starts.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from service.db import utcnow
from service.errors import Conflict, Gone, NotFound
from surveys.forms import abuse
from surveys.forms.compiled import CompiledForm, FormCache
from surveys.forms.models import Access, Campaign, Survey, SurveyResponse
from surveys.forms.schemas import AGE_BANDS, SEXES, FormPublic, FormQuestion, FormUnit, ResponseIn
from surveys.forms.service import campaign_units, purge_committed, questions_of, status_at
from surveys.forms.store import Pending, Stored
from surveys.forms.writer import ResponseWriter
from surveys.units.models import AREA_KINDS, Unit

# ---------------------------------------------------------------- the public form


def area_units(session: Session) -> list[Unit]:
    """Units where residents live (district, streets, communities), in tree order."""
    return list(
        session.exec(
            select(Unit)
            .where(col(Unit.kind).in_([k.value for k in AREA_KINDS]))
            .order_by(col(Unit.id))
        )
    )


def form_public(session: Session, *, campaign: Campaign, secret: str) -> FormPublic:
    """Everything a client needs to show the survey, with a fresh form token."""
    survey = session.get(Survey, campaign.survey_id)
    assert survey is not None
    now = utcnow()
    profile = campaign.profile_fields or []
    return FormPublic(
        campaign_id=campaign.id or 0,
        title=campaign.title,
        title_en=campaign.title_en,
        description=survey.description,
        access=campaign.access,
        opens_at=campaign.opens_at,
        closes_at=campaign.closes_at,
        units=[_form_unit(u) for u in campaign_units(session, campaign_id=campaign.id or 0)],
        questions=[
            FormQuestion.model_validate(q, from_attributes=True)
            for q in questions_of(session, survey_id=campaign.survey_id)
        ],
        profile_fields=profile,
        areas=[_form_unit(u) for u in area_units(session)] if "area" in profile else [],
        age_bands=list(AGE_BANDS),
        sexes=list(SEXES),
        form_token=abuse.issue_form_token(secret, campaign.id or 0, now),
    )


def _form_unit(u: Unit) -> FormUnit:
    return FormUnit(
        code=u.code, name=u.name, name_en=u.name_en, kind=str(getattr(u.kind, "value", u.kind))
    )


def ensure_open(campaign: Campaign) -> None:
    """409 before the window opens, 410 after it closes.

    Reading only: the closed campaign's abuse data is left to the app's purge job
    (``surveys.forms.purge_job``), so no GET writes.
    """
    status = status_at(campaign.opens_at, campaign.closes_at, utcnow())
    if status == "scheduled":
        raise Conflict("This survey is not open yet")
    if status == "closed":
        raise Gone("This survey has closed")


# ---------------------------------------------------------------- receiving a response


def prepare(
    form: CompiledForm,
    data: ResponseIn,
    *,
    secret: str,
    now: datetime,
    network: str = "",
    device: str = "",
    source: str = "web",
    submitted_at: datetime | None = None,
) -> Pending:
    """Check a submission against the compiled form and turn it into a storable row.

    Only keyed hashes leave this function: the code, address and device are not kept.
    """
    web = source == "web"
    checked = form.check(data, require_code=web)
    cid = form.campaign_id
    sid = data.submission_id or uuid.uuid4().hex
    age = abuse.form_age_seconds(secret, cid, data.form_token, now) if web else None
    flags = abuse.content_flags(
        form_age=age, answered=len(checked.answers), ratings=checked.ratings
    )
    code = (data.invitation_code or "").strip()
    return Pending(
        campaign_id=cid,
        survey_id=form.survey_id,
        unit_id=checked.unit_id,
        answers=checked.answers,
        submission_key=abuse.submission_key(secret, cid, sid),
        area_unit_id=checked.area_unit_id,
        age_band=data.profile.age_band if data.profile else None,
        sex=data.profile.sex if data.profile else None,
        comment=checked.comment,
        code_hash=abuse.code_hash(secret, code)
        if web and code and form.access is Access.invitation
        else None,
        client_hash=abuse.client_hash(secret, cid, network, device) if web else None,
        # Imports come from staff, not from clients: no burst or duplicate-comment counting.
        comment_hash=abuse.comment_hash(secret, cid, checked.comment) if web else None,
        flags=flags,
        source=source,
        submitted_at=submitted_at,
    )


def _stored_replay(engine: Engine, campaign_id: int, key: str) -> int | None:
    with Session(engine) as s:
        return s.exec(
            select(SurveyResponse.id)
            .where(SurveyResponse.campaign_id == campaign_id)
            .where(SurveyResponse.submission_key == key)
        ).first()


async def receive_response(
    *,
    engine: Engine,
    secret: str,
    cache: FormCache,
    writer: ResponseWriter,
    campaign_id: int,
    data: ResponseIn,
    network: str,
    device: str,
) -> Stored:
    """Check a public submission and wait until it is committed (the hot path: no DB until the
    writer). The API post and the survey page both come here; the client is known only by its
    address (``network``) and user agent (``device``), kept as keyed hashes."""
    form = await cache.aget(campaign_id)
    if form is None:
        raise NotFound("Campaign not found")
    now = utcnow()
    status = form.status(now)
    if status != "open":
        if data.submission_id:
            # A retry of something stored before the window closed still gets its id.
            key = abuse.submission_key(secret, campaign_id, data.submission_id)
            rid = await run_in_threadpool(_stored_replay, engine, campaign_id, key)
            if rid is not None:
                return Stored(rid, False)
        if status == "closed":
            if not form.purged:
                await run_in_threadpool(purge_committed, engine, campaign_id=campaign_id)
                cache.invalidate(campaign_id)
            raise Gone("This survey has closed")
        raise Conflict("This survey is not open yet")
    pending = prepare(form, data, secret=secret, now=now, network=network, device=device)
    return await writer.submit(pending)
