"""The moderation queue of residents' proposals: /admin/proposals.

Waiting proposals come first. Each decision (approve, reject with a reason, merge) goes through
a confirmation page that holds its form; the write calls the same service as the API
(``proposals.review_proposal``), which audits it. Shortlisting opens the project form of
/admin/projects pre-filled from the proposal (a post here with budget and sponsor still
works). A refused form comes back with each error beside its field and the input kept (422)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from frontend.i18n import request_language, translate
from frontend.pages.admin.access import ConsoleAdmin, ConsoleRoute
from frontend.pages.admin.common import console_render
from service.db import SessionDep
from service.errors import Conflict, Invalid
from surveys.voting import proposals
from surveys.voting.dependencies import valid_proposal_id
from surveys.voting.models import Proposal, ProposalReview, ProposalStatus
from surveys.voting.projects import units_by_id

router = APIRouter(route_class=ConsoleRoute)

# The decisions offered on the page, in the order of their buttons.
ACTIONS = ("approve", "reject", "merge", "shortlist", "reopen")
# What each decision may follow (the service refuses the rest with 409 as well).
ALLOWED = {
    "approve": {ProposalStatus.pending, ProposalStatus.rejected},
    "reject": {ProposalStatus.pending, ProposalStatus.open, ProposalStatus.merged},
    "merge": {ProposalStatus.pending, ProposalStatus.open, ProposalStatus.rejected},
    "shortlist": {
        ProposalStatus.pending,
        ProposalStatus.open,
        ProposalStatus.rejected,
        ProposalStatus.merged,
    },
    "reopen": {ProposalStatus.merged},
}
FIELDS = ("note", "merge_into", "merge_into_project", "budget", "sponsor_unit_code", "title_en")
ProposalByPath = Annotated[Proposal, Depends(valid_proposal_id)]


async def _form_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields (async here, so the routes themselves stay sync)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormFields = Annotated[dict[str, str], Depends(_form_fields)]


def actions_for(proposal: Proposal) -> list[str]:
    """The decisions the page offers for a proposal in its present state."""
    state = ProposalStatus(proposal.status)
    return [a for a in ACTIONS if state in ALLOWED[a]]


def _rows(session: Session, listed: list[Proposal]) -> list[dict[str, Any]]:
    units = units_by_id(session, {p.area_unit_id for p in listed})
    return [
        {
            "p": p,
            "status": ProposalStatus(p.status).value,
            "area": units[p.area_unit_id].name if p.area_unit_id in units else "",
            "actions": actions_for(p),
        }
        for p in listed
    ]


@router.get("/admin/proposals", response_class=HTMLResponse)
def proposals_page(
    request: Request, admin: ConsoleAdmin, session: SessionDep, state: str = "", done: str = ""
) -> Response:
    """The queue: waiting proposals first, filtered by state."""
    status = ProposalStatus(state) if state in ProposalStatus.__members__ else None
    listed = proposals.moderation_queue(session, status=status)
    lang = request_language(request)
    ctx = {
        "section": "proposals",
        "rows": _rows(session, listed),
        "state": status.value if status else "",
        "states": [s.value for s in ProposalStatus],
        "waiting": proposals.waiting_count(session),
        "need_approval": request.app.state.settings.proposals_need_approval,
        "flash": translate(lang, f"admin.proposals.done.{done}") if done in ACTIONS else "",
    }
    return console_render(request, "admin/proposals.html", ctx)


def _confirm(
    request: Request,
    session: Session,
    proposal: Proposal,
    action: str,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    ctx = {
        "section": "proposals",
        "row": _rows(session, [proposal])[0],
        "action": action,
        "form": form or {},
        "errors": errors or {},
        # Proposals a duplicate can be merged into: approved or shortlisted ones.
        "targets": [
            t
            for t in proposals.moderation_queue(session)
            if t.id != proposal.id and t.status in (ProposalStatus.open, ProposalStatus.shortlisted)
        ],
    }
    return console_render(request, "admin/proposal_confirm.html", ctx, status_code=status_code)


@router.get("/admin/proposals/{proposal_id}/{action}", response_class=HTMLResponse)
def confirm_page(
    request: Request,
    admin: ConsoleAdmin,
    proposal: ProposalByPath,
    action: str,
    session: SessionDep,
) -> Response:
    """The confirmation step of one decision, with the fields it needs."""
    if action not in ACTIONS:
        return RedirectResponse("/admin/proposals", 303)
    if action == "shortlist":  # the project form, pre-filled from the proposal, confirms it
        return RedirectResponse(f"/admin/projects/new?proposal={proposal.id}", 303)
    return _confirm(request, session, proposal, action)


def _review_data(
    action: str, kept: dict[str, str], lang: str
) -> tuple[ProposalReview | None, dict[str, str]]:
    """The API's review body from the form, or the form's errors by field."""
    errors: dict[str, str] = {}
    numbers: dict[str, int | None] = {}
    for name in ("merge_into", "merge_into_project", "budget"):
        raw = kept[name].strip()
        numbers[name] = None
        if raw:
            try:
                numbers[name] = int(raw)
            except ValueError:
                errors[name] = translate(lang, f"admin.proposals.error.{name}")
    if errors:
        return None, errors
    try:
        data = ProposalReview(
            action=action,  # type: ignore[arg-type]  # checked against ACTIONS by the route
            note=kept["note"].strip(),
            merge_into=numbers["merge_into"],
            merge_into_project=numbers["merge_into_project"],
            budget=numbers["budget"],
            sponsor_unit_code=kept["sponsor_unit_code"].strip() or None,
            title_en=kept["title_en"].strip(),
        )
    except ValidationError as exc:
        for e in exc.errors():
            field = str(e["loc"][0]) if e["loc"] else "note"
            errors.setdefault(field, translate(lang, f"admin.proposals.error.{field}"))
        return None, errors
    return data, errors


@router.post("/admin/proposals/{proposal_id}/{action}")
def decide(
    request: Request,
    admin: ConsoleAdmin,
    proposal: ProposalByPath,
    action: str,
    session: SessionDep,
    form: FormFields,
) -> Response:
    """Carry out a confirmed decision (the service audits it), then back to the queue."""
    if action not in ACTIONS:
        return RedirectResponse("/admin/proposals", 303)
    lang = request_language(request)
    kept = {k: form.get(k, "") for k in FIELDS}
    data, errors = _review_data(action, kept, lang)
    if data is not None:
        try:
            proposals.review_proposal(session, proposal=proposal, data=data, actor=admin.username)
        except Invalid as invalid:
            for item in invalid.errors:
                field = str(item["loc"][-1])
                errors.setdefault(field, translate(lang, f"admin.proposals.error.{field}"))
        except Conflict:
            errors["action"] = translate(lang, "admin.proposals.error.state")
    if errors:
        session.rollback()  # nothing of a refused decision is kept
        return _confirm(request, session, proposal, action, kept, errors, status_code=422)
    return RedirectResponse(f"/admin/proposals?done={action}#proposal-{proposal.id}", 303)
