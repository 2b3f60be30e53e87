"""The console's democratic evaluations (民主测评): /admin/campaigns/new-evaluation (a new one:
titles, window, subjects to rate, and the configuration as rows of plain fields, the defaults
filled in) and /admin/campaigns/{id}/evaluation (the same form, until the campaign opens).

The configuration is never typed as JSON: rater groups with weights, grades with points, items
with weights and rules are rows of fields; empty rows are dropped, so a row is added by filling
in a blank one. Every write calls the API's own route function, which checks and audits; a
refused field is named beside it with the input kept (422).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from frontend.pages.admin.access import ConsoleAdmin, ConsoleRoute
from frontend.pages.admin.campaign_detail import input_time, parse_input_time, t
from frontend.pages.admin.common import console_render
from service.db import SessionDep, utcnow
from service.errors import Conflict, Invalid
from surveys.evaluation import router as evaluation_api
from surveys.evaluation import service
from surveys.evaluation.campaigns import Fixed
from surveys.evaluation.config import DEFAULT_CONFIG
from surveys.evaluation.schemas import ConfigurationUpdate
from surveys.forms import router as api
from surveys.forms.dependencies import CampaignById
from surveys.forms.models import Campaign
from surveys.forms.schemas import CampaignCreate

router = APIRouter(route_class=ConsoleRoute)

# Each part of the configuration: its text fields, and how many blank rows the form offers.
PARTS: dict[str, tuple[tuple[str, ...], int]] = {
    "groups": (("key", "label", "label_en", "weight"), 2),
    "scale": (("key", "label", "label_en", "points"), 2),
    "items": (("key", "label", "label_en", "weight"), 2),
    "rules": (("key", "label", "label_en", "op", "share", "item"), 1),
}
OPS = ("lt", "le", "gt", "ge")
TOP = ("title", "title_en", "opens_at", "closes_at", "subject_ids")
ERROR_KEYS = (
    *TOP,
    "key",
    "label",
    "label_en",
    "weight",
    "points",
    "share",
    "grades",
    "item",
    "op",
    "groups",
    "scale",
    "items",
    "rules",
)


def _rows(config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The configuration as the form's rows of text, with blank rows to add more."""
    out: dict[str, list[dict[str, Any]]] = {}
    for part, (fields, blanks) in PARTS.items():
        rows = []
        for entry in config.get(part, []):
            row: dict[str, Any] = {f: str(entry.get(f, "")) for f in fields}
            if part == "rules":
                when = entry.get("when", {})
                row |= {
                    "op": when.get("op", "lt"),
                    "share": str(when.get("share", "")),
                    "item": when.get("item") or "overall",
                    "grades": list(when.get("grades", [])),
                }
            rows.append(row)
        blank: dict[str, Any] = {f: "" for f in fields}
        if part == "rules":
            blank |= {"op": "lt", "item": "overall", "grades": []}
        out[part] = rows + [dict(blank) for _ in range(blanks)]
    return out


def _number(raw: str) -> float | str:
    try:
        return float(raw)
    except ValueError:
        return raw  # left as text: the configuration's check names the field


def _config(fields: Any) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The posted rows as a configuration, and for each part the form row of each entry."""
    config: dict[str, Any] = {
        "unknown": {
            "key": "unknown",
            "label": (fields.get("unknown.label") or "不了解").strip(),
            "label_en": (fields.get("unknown.label_en") or "").strip(),
        },
        "overall": fields.get("overall") == "1",
    }
    origin: dict[str, list[int]] = {}
    for part, (names, _) in PARTS.items():
        entries, rows = [], []
        for n in range(int(fields.get(f"{part}.n") or 0)):
            cells = {f: str(fields.get(f"{part}.{n}.{f}") or "").strip() for f in names}
            if not cells["key"] and not cells["label"]:
                continue
            entry: dict[str, Any] = {"key": cells["key"], "label": cells["label"]}
            entry["label_en"] = cells["label_en"]
            if part == "rules":
                entry["when"] = {
                    "grades": [str(g) for g in fields.getlist(f"{part}.{n}.grades")],
                    "op": cells["op"],
                    "share": cells["share"],
                }
                if cells["item"] and cells["item"] != "overall":
                    entry["when"]["item"] = cells["item"]
            else:
                number = "points" if part == "scale" else "weight"
                entry[number] = _number(cells[number])
            entries.append(entry)
            rows.append(n)
        config[part] = entries
        origin[part] = rows
    return config, origin


def _errors(
    request: Request, errors: list[dict[str, Any]], origin: dict[str, list[int]]
) -> dict[str, str]:
    """API-shaped errors as {form field: message}: ``groups.2.weight``, ``subject_ids``..."""
    out: dict[str, str] = {}
    for e in errors:
        loc = [p for p in e.get("loc", []) if p != "body"]
        name = str(loc[0]) if loc else "closes_at"
        if name == "evaluation" and len(loc) > 1:
            part = str(loc[1])
            if part in origin and len(loc) > 2 and isinstance(loc[2], int):
                row = origin[part][loc[2]] if loc[2] < len(origin[part]) else 0
                field = "grades" if "grades" in loc else str(loc[-1])
                if field in ("when", "item") and "item" in loc:
                    field = "item"
                name = f"{part}.{row}.{field if isinstance(field, str) else 'key'}"
            else:
                name = part
        elif name not in TOP:
            name = "closes_at"
        # Said in the page's language by what the field is; the API's own words stay in its 422.
        last = name.rsplit(".", 1)[-1]
        known = last if last in ERROR_KEYS else "field"
        out.setdefault(name, t(request, f"evaluation.admin.err.{known}"))
    return out


def _page(
    request: Request,
    session: Session,
    *,
    campaign: Campaign | None = None,
    form: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    cfg = config or (campaign.evaluation if campaign and campaign.evaluation else DEFAULT_CONFIG)
    chosen = (
        [s.id for s in service.campaign_subjects(session, campaign_id=campaign.id or 0)]
        if campaign
        else []
    )
    ctx = {
        "section": "campaigns",
        "campaign": campaign,
        "subjects": service.subjects_public(session, service.subjects(session, active=True)),
        "form": form
        or {
            "title": campaign.title if campaign else "",
            "title_en": campaign.title_en if campaign else "",
            "opens_at": input_time(request, campaign.opens_at if campaign else utcnow()),
            "closes_at": input_time(request, campaign.closes_at) if campaign else "",
            "subject_ids": [str(i) for i in chosen],
        },
        "rows": _rows(cfg),
        "unknown": cfg.get("unknown", DEFAULT_CONFIG["unknown"]),
        "overall": cfg.get("overall", True),
        "grade_keys": [g.get("key", "") for g in cfg.get("scale", []) if g.get("key")],
        "item_keys": ["overall"] + [i.get("key", "") for i in cfg.get("items", []) if i.get("key")],
        "ops": OPS,
        "errors": errors or {},
    }
    return console_render(request, "admin/evaluation_form.html", ctx, status_code=status_code)


@router.get("/admin/campaigns/new-evaluation", response_class=HTMLResponse)
def new_evaluation_page(request: Request, admin: ConsoleAdmin, session: SessionDep) -> HTMLResponse:
    """The form for a new democratic evaluation, the default configuration filled in."""
    return _page(request, session)


@router.post("/admin/campaigns/new-evaluation", response_class=HTMLResponse)
async def create_evaluation_page(
    request: Request, admin: ConsoleAdmin, session: SessionDep
) -> Response:
    """Create a democratic evaluation; a refused field is named beside it with the input kept."""
    fields = await request.form()
    form: dict[str, Any] = {k: str(fields.get(k) or "").strip() for k in TOP if k != "subject_ids"}
    form["subject_ids"] = [str(v) for v in fields.getlist("subject_ids")]
    config, origin = _config(fields)
    errors: dict[str, str] = {}
    times = {k: parse_input_time(request, form[k]) for k in ("opens_at", "closes_at")}
    errors |= {k: t(request, "admin.campaigns.err.when") for k, v in times.items() if v is None}
    body = {
        "kind": "democratic_evaluation",
        "title": form["title"],
        "title_en": form["title_en"],
        "opens_at": times["opens_at"],
        "closes_at": times["closes_at"],
        "subject_ids": [int(i) for i in form["subject_ids"] if i.isdigit()],
        "evaluation": config,
    }
    created = None
    if not errors:
        try:
            data = CampaignCreate.model_validate(body)
            created = api.create_campaign(admin, data, session)
        except ValidationError as exc:
            found = [{"loc": ["body", *e["loc"]], "msg": e["msg"]} for e in exc.errors()]
            errors = _errors(request, found, origin)
        except Invalid as exc:
            errors = _errors(request, exc.errors, origin)
    if created is None:
        return await _refused(request, session, None, form, config, errors)
    return RedirectResponse(f"/admin/campaigns/{created.id}?done=created", status_code=303)


async def _refused(
    request: Request,
    session: Session,
    campaign: Campaign | None,
    form: dict[str, Any],
    config: dict[str, Any],
    errors: dict[str, str],
) -> HTMLResponse:
    return _page(
        request,
        session,
        campaign=campaign,
        form=form,
        config=config,
        errors=errors or {"title": t(request, "evaluation.admin.err.form")},
        status_code=422,
    )


@router.get("/admin/campaigns/{campaign_id}/evaluation", response_class=HTMLResponse)
def edit_evaluation_page(
    request: Request, admin: ConsoleAdmin, campaign: CampaignById, session: SessionDep
) -> HTMLResponse:
    """A democratic evaluation's configuration and subjects, editable until it opens."""
    if not service.is_evaluation(campaign):
        raise Conflict("This campaign is not a democratic evaluation")
    return _page(request, session, campaign=campaign)


@router.post("/admin/campaigns/{campaign_id}/evaluation", response_class=HTMLResponse)
async def update_evaluation_page(
    request: Request, admin: ConsoleAdmin, campaign: CampaignById, session: SessionDep
) -> Response:
    """Save the configuration and subjects (409 once the campaign has opened)."""
    fields = await request.form()
    form: dict[str, Any] = {
        "title": campaign.title,
        "title_en": campaign.title_en,
        "opens_at": input_time(request, campaign.opens_at),
        "closes_at": input_time(request, campaign.closes_at),
        "subject_ids": [str(v) for v in fields.getlist("subject_ids")],
    }
    config, origin = _config(fields)
    ids = [int(i) for i in form["subject_ids"] if i.isdigit()]
    try:
        data = ConfigurationUpdate(evaluation=config, subject_ids=ids)
        evaluation_api.update_configuration(admin, campaign, data, session)
    except Invalid as exc:
        errors = _errors(request, exc.errors, origin)
        return await _refused(request, session, campaign, form, config, errors)
    except Fixed as exc:
        # Opened or with sheets in: said beside the subjects, the form's first field here.
        errors = {"subject_ids": t(request, f"evaluation.admin.err.fixed_{exc.extra['reason']}")}
        return await _refused(request, session, campaign, form, config, errors)
    return RedirectResponse(f"/admin/campaigns/{campaign.id}?done=updated", status_code=303)
