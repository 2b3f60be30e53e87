"""The rater's sheet of a democratic evaluation (/s/{campaign_id}/evaluation): the survey's
code page leads a rater with a code of such a campaign here. It works without JavaScript: a
plain form post, answered with the thank-you message or the same sheet with what is missing.
The page and the API share one path into the service (``receiving.submit_sheet``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from frontend.i18n import request_language, translate
from frontend.templating import render
from service.auth import SettingsDep
from service.db import SessionDep, utcnow
from service.errors import Conflict, Gone, Invalid, NotFound
from service.ratelimit import RateLimit, client_key
from surveys.evaluation import receiving
from surveys.evaluation.config import OVERALL
from surveys.evaluation.schemas import SheetPublic
from surveys.evaluation.service import evaluation_config, sheet_public
from surveys.forms.models import Campaign

router = APIRouter(include_in_schema=False)


def _message(request: Request, key: str, status_code: int) -> HTMLResponse:
    text = translate(request_language(request), key)
    return render(request, "survey/message.html", {"message": text}, status_code=status_code)


def _page(
    request: Request,
    campaign: Campaign,
    sheet: SheetPublic,
    *,
    code: str,
    group: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    lang = request_language(request)
    cfg = evaluation_config(campaign)

    def word(part: Any) -> str:
        return str(part.label_en if lang == "en" and part.label_en else part.label)

    questions = [{"key": i.key, "label": word(i)} for i in cfg.items]
    if cfg.overall:
        questions.append({"key": OVERALL, "label": translate(lang, "evaluation.overall")})
    found = cfg.group(group)
    ctx = {
        "title": campaign.title_en if lang == "en" and campaign.title_en else campaign.title,
        "sheet": sheet,
        "questions": questions,
        "grades": [*cfg.scale, cfg.unknown],
        "group_label": word(found) if found else group,
        "code": code,
        "values": values or {},
        "errors": errors or {},
    }
    return render(request, "survey/evaluation.html", ctx, status_code=status_code)


def _opened(
    request: Request, session: SessionDep, settings: SettingsDep, campaign_id: int, code: str
) -> tuple[Campaign, SheetPublic, str] | HTMLResponse:
    campaign = session.get(Campaign, campaign_id)
    try:
        if campaign is None:
            raise NotFound("no campaign")
        sheet = sheet_public(session, campaign=campaign)
        receiving.ensure_open(campaign, utcnow())
        group = receiving.check_code(
            session, campaign=campaign, code=code, secret=settings.secret_key or ""
        )
    except NotFound:
        return _message(request, "survey.not_found", 404)
    except Gone:
        return _message(request, "survey.closed", 410)
    except Conflict as e:
        used = "used" in str(e)
        return _message(request, "survey.code_used" if used else "survey.not_found", 409)
    except Invalid:
        return _message(request, "survey.err.code", 422)
    return campaign, sheet, group


@router.get("/s/{campaign_id}/evaluation", response_class=HTMLResponse)
def evaluation_page(
    request: Request,
    campaign_id: int,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimit,
    code: str = "",
) -> HTMLResponse:
    """A rater's sheet: every subject with its items and the overall grade as radio rows."""
    limiter.enforce(f"public:{client_key(request)}")
    opened = _opened(request, session, settings, campaign_id, code.strip()[:64])
    if isinstance(opened, HTMLResponse):
        return opened
    campaign, sheet, group = opened
    return _page(request, campaign, sheet, code=code.strip()[:64], group=group)


@router.post("/s/{campaign_id}/evaluation", response_class=HTMLResponse)
async def submit_evaluation(
    request: Request,
    campaign_id: int,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimit,
) -> HTMLResponse:
    """Store the posted sheet, or show it again with what is missing."""
    limiter.enforce(f"public:{client_key(request)}")
    fields = await request.form()
    code = str(fields.get("code") or "").strip()[:64]
    opened = _opened(request, session, settings, campaign_id, code)
    if isinstance(opened, HTMLResponse):
        return opened
    campaign, sheet, group = opened
    values = {k: str(v) for k, v in fields.items() if k.startswith("g.")}
    grades: dict[str, dict[str, str]] = {str(s.id): {} for s in sheet.subjects}
    for key, value in values.items():
        _, sid, item = key.split(".", 2)
        if sid in grades:
            grades[sid][item] = value
    try:
        receiving.submit_sheet(
            session, campaign=campaign, code=code, grades=grades, secret=settings.secret_key or ""
        )
    except Invalid as e:
        msg = translate(request_language(request), "evaluation.err.required")
        errors = {
            "g." + ".".join(str(p) for p in err["loc"][2:]): msg
            for err in e.errors
            if err["loc"][:2] == ["body", "grades"]
        }
        return _page(
            request,
            campaign,
            sheet,
            code=code,
            group=group,
            values=values,
            errors=errors,
            status_code=422,
        )
    return _message(request, "evaluation.thanks", 201)
