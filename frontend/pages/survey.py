"""The resident's survey (/s/{campaign_id}); the admin's campaign pages are in the console
(``frontend.pages.admin.campaigns``).

The survey works without JavaScript: a plain form post, answered with the thank-you page or
the same form with friendly errors and everything the resident typed. survey.js adds keeping
an unsent response in the browser and retrying it with the same submission_id. The page and
the API share one path into the service (``receiving.receive_response``, with the same form
cache, writer and rate limiter), so both check the same way. Pages read and write through the
request's ``SessionDep`` (committed by it), never a session of their own.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from frontend.i18n import request_language, translate
from frontend.pages import evaluation_sheet
from frontend.templating import render
from service.auth import SettingsDep
from service.config import Settings
from service.db import SessionDep
from service.errors import AppError, Conflict, Gone, Invalid, NotFound, TooManyRequests
from service.localtime import local_time
from service.ratelimit import RateLimit, RateLimiter, client_key
from surveys.forms import abuse, receiving
from surveys.forms.dependencies import EngineDep, FormCacheDep, WriterDep
from surveys.forms.models import Access, Campaign, Invitation
from surveys.forms.schemas import FormPublic, ResponseIn

router = APIRouter(include_in_schema=False)
# A democratic evaluation's sheet, where this page's code step leads its raters.
router.include_router(evaluation_sheet.router)

KIND_ORDER = ("department", "service_window", "street", "leadership_team", "community", "project")


def _t(request: Request, key: str, **kw: Any) -> str:
    return translate(request_language(request), key, **kw)


def _message(request: Request, text: str, status_code: int) -> HTMLResponse:
    return render(request, "survey/message.html", {"message": text}, status_code=status_code)


def _url(campaign_id: int, suffix: str = "", **params: str | None) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return f"/s/{campaign_id}{suffix}" + (f"?{query}" if query else "")


def _closed_or_scheduled(request: Request, campaign: Campaign) -> HTMLResponse | None:
    try:
        receiving.ensure_open(campaign)
    except Gone:
        return _message(request, _t(request, "survey.closed"), 410)
    except Conflict:
        at = local_time(campaign.opens_at, request.app.state.settings.time_zone)
        return _message(request, _t(request, "survey.scheduled", at=at), 409)
    return None


def _load_form(
    session: Session, campaign_id: int, secret: str
) -> tuple[Campaign, FormPublic] | None:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return None
    return campaign, receiving.form_public(session, campaign=campaign, secret=secret)


def _grouped_units(form: FormPublic) -> list[tuple[str, list[Any]]]:
    groups: dict[str, list[Any]] = {}
    for u in form.units:
        groups.setdefault(u.kind, []).append(u)
    order = {k: i for i, k in enumerate(KIND_ORDER)}
    return sorted(groups.items(), key=lambda kv: order.get(kv[0], 99))


def _form_page(
    request: Request,
    form: FormPublic,
    *,
    unit_code: str,
    code: str,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    submission_id: str | None = None,
    notice: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    unit = next(u for u in form.units if u.code == unit_code)
    lang = request_language(request)
    ctx = {
        "form": form,
        "unit": unit,
        "unit_name": unit.name_en if lang == "en" and unit.name_en else unit.name,
        "title": form.title_en if lang == "en" and form.title_en else form.title,
        "code": code,
        "values": values or {},
        "errors": errors or {},
        "submission_id": submission_id or str(uuid.uuid4()),
        "notice": notice,
        "many_units": len(form.units) > 1,
        "lang_query": urlencode({"unit": unit_code, "code": code})
        if code
        else urlencode({"unit": unit_code}),
    }
    return render(request, "survey/form.html", ctx, status_code=status_code)


@router.get("/s/{campaign_id}", response_class=HTMLResponse)
def survey_page(
    request: Request,
    campaign_id: int,
    settings: SettingsDep,
    session: SessionDep,
    limiter: RateLimit,
    unit: str = "",
    code: str = "",
) -> Response:
    """The survey: a unit chooser, the invitation-code prompt, or the questions for one unit."""
    loaded = _load_form(session, campaign_id, settings.secret_key or "")
    if loaded is None:
        return _message(request, _t(request, "survey.not_found"), 404)
    campaign, form = loaded
    blocked = _closed_or_scheduled(request, campaign)
    if blocked is not None:
        return blocked
    code = code.strip()[:64]
    lang = request_language(request)
    title = form.title_en if lang == "en" and form.title_en else form.title
    if form.access == Access.invitation:
        refused = _code_refused(request, session, limiter, settings, campaign_id, code)
        if refused is not None:
            error, status_code = refused
            ctx = {
                "title": title,
                "unit_code": unit,
                "error": error,
                "code": code,
                "campaign_id": campaign_id,
            }
            return render(request, "survey/code.html", ctx, status_code=status_code)
        if campaign.kind == "democratic_evaluation":
            # A rater's code leads to the sheet of every subject, not to a unit's questions.
            return RedirectResponse(_url(campaign_id, "/evaluation", code=code, lang=lang), 303)
    codes = {u.code for u in form.units}
    if unit not in codes:
        if len(form.units) == 1:
            unit = form.units[0].code
        else:
            ctx = {
                "title": title,
                "groups": _grouped_units(form),
                "campaign_id": campaign_id,
                "code": code,
            }
            return render(request, "survey/units.html", ctx)
    return _form_page(request, form, unit_code=unit, code=code)


def _code_usable(session: Session, *, campaign_id: int, secret: str, code: str) -> bool:
    """Whether the code is one of the campaign's and still unused. Only yes or no is told:
    an unknown code and a used one read the same, so the check reveals nothing more."""
    found = session.exec(
        select(col(Invitation.id))
        .where(col(Invitation.campaign_id) == campaign_id)
        .where(col(Invitation.code_hash) == abuse.code_hash(secret, code))
        .where(col(Invitation.used).is_(False))
    ).first()
    return found is not None


def _code_refused(
    request: Request,
    session: Session,
    limiter: RateLimiter,
    settings: Settings,
    campaign_id: int,
    code: str,
) -> tuple[str, int] | None:
    """Why the code step stops the resident (message, status), or None to go on. Every
    check counts against the public rate limit, so codes cannot be guessed at speed."""
    if not code:
        return "", 200
    try:
        limiter.enforce(f"public:{client_key(request)}")
    except TooManyRequests:
        return _t(request, "survey.busy"), 429
    usable = _code_usable(
        session, campaign_id=campaign_id, secret=settings.secret_key or "", code=code
    )
    return None if usable else (_t(request, "survey.err.code"), 422)


def _as_response(form: FormPublic, fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The posted form as the API's body, and the raw values to show again."""
    answers: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for q in form.questions:
        name = f"a.{q.key}"
        if q.type == "multi_choice":
            chosen = [v for v in fields.getlist(name) if isinstance(v, str)]
            values[name] = chosen
            answers[q.key] = chosen or None
        else:
            raw = fields.get(name)
            raw = raw.strip() if isinstance(raw, str) else ""
            values[name] = raw
            answers[q.key] = raw or None
    text = {k: (fields.get(k) or "").strip() for k in ("comment", "area_code", "age_band", "sex")}
    values.update(text)
    profile = {k: text[k] for k in ("age_band", "sex") if text[k]}
    body = {
        "unit_code": (fields.get("unit_code") or "").strip(),
        "answers": answers,
        "comment": text["comment"] or None,
        "invitation_code": (fields.get("invitation_code") or "").strip() or None,
        "submission_id": (fields.get("submission_id") or "").strip() or None,
        "area_code": text["area_code"] or None,
        "profile": profile or None,
        "form_token": (fields.get("form_token") or "").strip() or None,
    }
    return body, values


_ERROR_KEYS = (
    ("required", "survey.err.required"),
    ("between", "survey.err.range"),
    ("whole number", "survey.err.range"),
    ("option", "survey.err.choice"),
    ("number", "survey.err.number"),
    ("at most", "survey.err.too_long"),
    ("characters", "survey.err.too_long"),
    ("unknown invitation", "survey.err.code"),
    ("invitation code is required", "survey.err.code_required"),
)


def _field_errors(request: Request, errors: list[dict[str, Any]]) -> dict[str, str]:
    """API-shaped errors as {field name on the page: friendly message}."""
    out: dict[str, str] = {}
    for e in errors:
        loc = [str(p) for p in e.get("loc", []) if p != "body"]
        if loc[:1] == ["answers"] and len(loc) > 1:
            name = f"a.{loc[1]}"
        elif loc[:1] == ["profile"] and len(loc) > 1:
            name = loc[1]
        else:
            name = loc[0] if loc else "_form"
        msg = str(e.get("msg", "")).lower()
        key = next((k for needle, k in _ERROR_KEYS if needle in msg), "survey.err.invalid")
        out.setdefault(name, _t(request, key))
    return out


@router.post("/s/{campaign_id}", response_class=HTMLResponse)
async def survey_submit(
    request: Request,
    campaign_id: int,
    settings: SettingsDep,
    session: SessionDep,
    engine: EngineDep,
    limiter: RateLimit,
    cache: FormCacheDep,
    writer: WriterDep,
) -> Response:
    """The plain form post: the thank-you page, or the form again with what was typed."""
    secret = settings.secret_key or ""
    loaded = await run_in_threadpool(_load_form, session, campaign_id, secret)
    if loaded is None:
        return _message(request, _t(request, "survey.not_found"), 404)
    campaign, form = loaded
    fields = await request.form()
    body, values = _as_response(form, fields)
    unit_code = body["unit_code"]
    code = body["invitation_code"] or ""
    if unit_code not in {u.code for u in form.units}:
        return RedirectResponse(_url(campaign_id, code=code), status_code=303)

    def again(errors: dict[str, str], status_code: int, notice: str = "") -> HTMLResponse:
        return _form_page(
            request,
            form,
            unit_code=unit_code,
            code=code,
            values=values,
            errors=errors,
            submission_id=body["submission_id"],
            notice=notice,
            status_code=status_code,
        )

    try:
        network = client_key(request)
        limiter.enforce(f"public:{network}")
        data = ResponseIn.model_validate(body)
        stored = await receiving.receive_response(
            engine=engine,
            secret=secret,
            cache=cache,
            writer=writer,
            campaign_id=campaign_id,
            data=data,
            network=network,
            device=request.headers.get("user-agent", ""),
        )
    except ValidationError as exc:
        errs = [{"loc": ["body", *e["loc"]], "msg": e["msg"]} for e in exc.errors()]
        return again(_field_errors(request, errs), 422)
    except Invalid as exc:
        return again(_field_errors(request, exc.errors), 422)
    except TooManyRequests:
        return again({}, 429, _t(request, "survey.busy"))
    except Gone:
        return _message(request, _t(request, "survey.closed"), 410)
    except Conflict as exc:
        if form.access == Access.invitation and "invitation" in exc.message:
            return _message(request, _t(request, "survey.code_used"), 409)
        return _message(request, _t(request, "survey.closed"), 409)
    except NotFound:
        return _message(request, _t(request, "survey.not_found"), 404)
    except AppError:
        return again({}, 503, _t(request, "survey.failed"))
    del stored  # the id is not shown: the thank-you page is the same for every response
    target = _url(campaign_id, "/thanks", unit=unit_code, lang=request_language(request))
    return RedirectResponse(target, status_code=303)


@router.get("/s/{campaign_id}/thanks", response_class=HTMLResponse)
def survey_thanks(
    request: Request, campaign_id: int, settings: SettingsDep, session: SessionDep, unit: str = ""
) -> HTMLResponse:
    """The thank-you page, with the other units of the campaign (open campaigns)."""
    loaded = _load_form(session, campaign_id, settings.secret_key or "")
    if loaded is None:
        return _message(request, _t(request, "survey.not_found"), 404)
    _campaign, form = loaded
    others = [u for u in form.units if u.code != unit] if form.access == Access.open else []
    ctx = {"form": form, "others": others, "campaign_id": campaign_id}
    return render(request, "survey/thanks.html", ctx)
