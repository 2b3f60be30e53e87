"""Pages of the livelihood-project vote: the deputy's ballot (/vote/{id}), the public
projects page (/projects: proposals, support, the tracker) and published results
(/results/{id}). Pages are clients of the voting services: they read and write through the
request's ``SessionDep`` (which commits, or rolls back when a service raises), call the same
service functions and validating dependencies as the API, and only choose what to show.
Figures come from analytics."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from analytics import figures
from frontend.i18n import request_language, translate
from frontend.templating import render
from service.auth import OptionalUser, SettingsDep
from service.db import SessionDep
from service.errors import AppError, Conflict, Invalid, NotFound
from service.models import Role, User
from service.ratelimit import enforce_rate_limit
from surveys.units.models import AREA_KINDS
from surveys.units.service import list_units
from surveys.voting import ballots, projects, proposals, results, sessions
from surveys.voting.dependencies import (
    client_keys,
    ensure_client_cookie,
    valid_proposal_id,
    valid_session_id,
)
from surveys.voting.exceptions import (
    AlreadySupported,
    AlreadyVoted,
    NotInElectorate,
    NotSignedIn,
)
from surveys.voting.models import (
    CATEGORIES,
    SATISFACTION_CHOICES,
    SELECTION_CHOICES,
    BallotIn,
    ProposalCreate,
    ProposalStatus,
    SessionKind,
    SessionState,
    VotingSession,
)
from surveys.voting.schemas import SelectionResult
from surveys.voting.screen import zh_fraction

router = APIRouter(include_in_schema=False)


async def _form_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields (async here, so the routes themselves stay sync)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormFields = Annotated[dict[str, str], Depends(_form_fields)]


def _json_block(data: Any) -> str:
    """JSON for a <script type="application/json"> block; "<" escaped so it cannot end it."""
    return json.dumps(data, ensure_ascii=False, default=str).replace("<", "\\u003c")


def _login_redirect(request: Request, lang: str) -> RedirectResponse:
    return RedirectResponse("/login?" + urlencode({"next": request.url.path, "lang": lang}), 303)


def _error(request: Request, message: str, status_code: int) -> HTMLResponse:
    return render(request, "error.html", {"message": message}, status_code=status_code)


# --- the deputy's ballot ----------------------------------------------------------------------


def _ballot_context(
    session: Session, vs: VotingSession, lang: str, choices: dict[str, str], errors: list[str]
) -> dict[str, Any]:
    public = sessions.session_public(session, vs=vs)
    kind = SessionKind(vs.kind)
    options = SELECTION_CHOICES if kind == SessionKind.selection else SATISFACTION_CHOICES
    return {
        "vs": public,
        "kind": kind.value,
        "options": options,
        "choices": choices,
        "errors": errors,
        "en": lang == "en",
        "boot_json": _json_block(
            {"max_for": public.max_for_per_ballot, "count": len(public.projects)}
        ),
    }


def _vote_gate(
    request: Request, user: User | None, session: Session, session_id: int
) -> tuple[VotingSession | None, Response | None]:
    """The session if this user may vote in it now, else the page to show instead."""
    lang = request_language(request)
    if user is None:
        return None, _login_redirect(request, lang)
    try:
        vs = valid_session_id(session_id, session)
    except NotFound:
        return None, _error(request, translate(lang, "vote.not_found"), 404)
    if user.role != Role.deputy:
        return None, _error(request, translate(lang, "vote.only_deputies"), 403)
    try:
        ballots.check_can_vote(session, vs=vs, user=user)
    except NotInElectorate:
        return None, _error(request, translate(lang, "vote.not_member"), 403)
    except Conflict as exc:
        if isinstance(exc, AlreadyVoted):
            reason = "vote.already"
        elif isinstance(exc, NotSignedIn):
            reason = "vote.not_signed_in"
        else:
            reason = f"vote.state.{SessionState(vs.state).value}"
        ctx = {"vs": sessions.session_public(session, vs=vs), "reason": reason}
        return None, render(request, "vote_closed.html", ctx, status_code=409)
    return vs, None


def _form_choices(form: dict[str, str], vs: VotingSession) -> dict[str, str]:
    assert vs.frozen_config is not None
    out = {}
    for p in vs.frozen_config["projects"]:
        value = form.get(f"c{p['project_id']}")
        if isinstance(value, str) and value:
            out[str(p["project_id"])] = value
    return out


def _error_texts(exc: Invalid, lang: str, vs: VotingSession) -> list[str]:
    assert vs.frozen_config is not None
    titles = {
        str(p["project_id"]): p["title_en" if lang == "en" else "title"] or p["title"]
        for p in vs.frozen_config["projects"]
    }
    out = []
    for e in exc.errors:
        key = str(e["loc"][-1])
        if e.get("type") == "missing":
            out.append(translate(lang, "vote.missing", title=titles.get(key, key)))
        elif key == "choices":
            out.append(translate(lang, "vote.too_many", n=vs.max_for_per_ballot or 0))
        else:
            out.append(translate(lang, "vote.invalid", title=titles.get(key, key)))
    return out


@router.get("/vote/{session_id}", response_class=HTMLResponse)
def vote_page(
    request: Request, user: OptionalUser, session: SessionDep, session_id: int
) -> Response:
    """The ballot: one card per project, then a review step, then the receipt."""
    vs, other = _vote_gate(request, user, session, session_id)
    if other is not None:
        return other
    assert vs is not None
    ctx = _ballot_context(session, vs, request_language(request), {}, [])
    return render(request, "vote.html", ctx | {"step": "form"})


@router.post("/vote/{session_id}/review", response_class=HTMLResponse)
def vote_review(
    user: OptionalUser, request: Request, session: SessionDep, form: FormFields, session_id: int
) -> Response:
    """Show the marks back for checking before the ballot is cast."""
    vs, other = _vote_gate(request, user, session, session_id)
    if other is not None:
        return other
    assert vs is not None
    lang = request_language(request)
    choices = _form_choices(form, vs)
    if form.get("edit"):  # back from the review step, with the marks kept
        ctx = _ballot_context(session, vs, lang, choices, [])
        return render(request, "vote.html", ctx | {"step": "form"})
    try:
        ballots.validate_choices(vs, choices)
    except Invalid as exc:
        ctx = _ballot_context(session, vs, lang, choices, _error_texts(exc, lang, vs))
        return render(request, "vote.html", ctx | {"step": "form"}, status_code=422)
    ctx = _ballot_context(session, vs, lang, choices, [])
    return render(request, "vote.html", ctx | {"step": "review"})


@router.post("/vote/{session_id}", response_class=HTMLResponse)
def vote_cast(
    user: OptionalUser, request: Request, session: SessionDep, form: FormFields, session_id: int
) -> Response:
    """Cast the reviewed ballot and show the receipt, once."""
    vs, other = _vote_gate(request, user, session, session_id)
    if other is not None:
        return other
    assert vs is not None and user is not None
    lang = request_language(request)
    choices = _form_choices(form, vs)
    try:
        ballots.validate_choices(vs, choices)
    except Invalid as exc:
        ctx = _ballot_context(session, vs, lang, choices, _error_texts(exc, lang, vs))
        return render(request, "vote.html", ctx | {"step": "form"}, status_code=422)
    # Checked above; what can still fail here is a race (a second ballot of the same deputy
    # at the same instant, or the close): the error goes up so the request's session rolls
    # the voter record back, and the API's 409 answers.
    receipt = ballots.cast_ballot(session, vs=vs, user=user, data=BallotIn(choices=choices))
    ctx = _ballot_context(session, vs, lang, choices, [])
    response = render(request, "vote.html", ctx | {"step": "receipt", "receipt": receipt})
    response.headers["Cache-Control"] = "no-store"  # the receipt is shown once
    return response


# --- the public projects page ---------------------------------------------------------------


@router.get("/projects", response_class=HTMLResponse)
def projects_page(
    request: Request, user: OptionalUser, session: SessionDep, msg: str = ""
) -> Response:
    """Residents' proposals (propose, support), the sessions, and the selected projects' progress."""
    ctx = _projects_context(request, session, msg if msg in MESSAGES else "")
    response = render(request, "projects.html", ctx)
    ensure_client_cookie(request, response)
    return response


def _projects_context(
    request: Request,
    session: Session,
    msg: str,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    lang = request_language(request)
    tracked = projects.list_projects(
        session, statuses=list(projects.IMPLEMENTATION), with_updates=True
    )
    listed = []
    for vs in sessions.list_sessions(session):
        state = SessionState(vs.state)
        if state == SessionState.draft:
            continue
        turnout = ballots.turnout(session, vs=vs)
        listed.append(
            {
                "id": vs.id,
                "title": vs.title,
                "title_en": vs.title_en,
                "kind": SessionKind(vs.kind).value,
                "state": state.value,
                "cast": turnout.cast,
                "electorate": turnout.electorate,
            }
        )
    areas = [u for u in list_units(session) if u.kind in AREA_KINDS]
    tracker = figures.tracker(projects.progress_rows(tracked), lang=lang) if tracked else None
    need_approval: bool = request.app.state.settings.proposals_need_approval
    collecting = proposals.list_proposals(
        session, status=ProposalStatus.open, need_approval=need_approval
    )
    if not need_approval:  # published without review: those still waiting are shown too
        collecting += proposals.list_proposals(
            session, status=ProposalStatus.pending, need_approval=need_approval
        )
    return {
        "tracked": tracked,
        "sessions": listed,
        "proposals": collecting,
        "shortlisted": proposals.list_proposals(session, status=ProposalStatus.shortlisted),
        # Merged proposals stay listed with where they went; a link only to what is on the page.
        "merged": proposals.merged_proposals(session, need_approval=need_approval),
        "tracked_ids": {p.id for p in tracked},
        "categories": CATEGORIES,
        "areas": areas,
        "msg": msg,
        "en": lang == "en",
        "tracker_json": _json_block(tracker.to_plotly_json()) if tracker else "",
        # The proposal form's input and its errors by field, when it was sent back.
        "form": form or {},
        "form_errors": errors or {},
    }


MESSAGES = {
    "proposed",
    "proposed_pending",
    "supported",
    "already",
    "closed",
    "limited",
    "no_cookie",
    "invalid",
}


def _back(msg: str, anchor: str = "proposals") -> RedirectResponse:
    return RedirectResponse(f"/projects?msg={msg}#{anchor}", 303)


PROPOSAL_FIELDS = ("title", "category", "description", "area_code", "rough_cost")


@router.post("/projects/proposals")
def propose(request: Request, session: SessionDep, form: FormFields) -> Response:
    """A resident's proposal from the page form (rate-limited like the API).

    A form that does not pass is shown again with each error beside its field and the input
    kept (422), never the API's JSON.
    """
    try:
        enforce_rate_limit(request, bucket="voting")
    except AppError:
        return _back("limited")
    lang = request_language(request)
    kept = {k: form.get(k, "") for k in PROPOSAL_FIELDS}
    errors: dict[str, str] = {}
    cost: int | None = None
    if kept["rough_cost"].strip():
        try:
            cost = int(kept["rough_cost"])
        except ValueError:
            errors["rough_cost"] = translate(lang, "projects.error.rough_cost")
    data: ProposalCreate | None = None
    try:
        data = ProposalCreate(
            title=kept["title"],
            description=kept["description"],
            category=kept["category"],
            area_code=kept["area_code"] or None,
            rough_cost=cost,
        )
    except ValidationError as exc:
        for e in exc.errors():
            field = str(e["loc"][0]) if e["loc"] else "title"
            errors.setdefault(field, translate(lang, f"projects.error.{field}"))
    if kept["category"] not in CATEGORIES:  # also checked by the service; shown with the rest
        errors.setdefault("category", translate(lang, "projects.error.category"))
    need_approval: bool = request.app.state.settings.proposals_need_approval
    if data is not None and not errors:
        try:
            proposals.create_proposal(session, data=data, need_approval=need_approval)
        except Invalid as invalid:
            for item in invalid.errors:
                field = str(item["loc"][-1])
                errors.setdefault(field, translate(lang, f"projects.error.{field}"))
    if errors:
        ctx = _projects_context(request, session, "", kept, errors)
        response = render(request, "projects.html", ctx, status_code=422)
        ensure_client_cookie(request, response)
        return response
    # The confirmation says whether the proposal is public now or waits for the review.
    return _back("proposed_pending" if need_approval else "proposed")


@router.post("/projects/proposals/{proposal_id}/support")
def support(
    request: Request, session: SessionDep, settings: SettingsDep, proposal_id: int
) -> Response:
    """Support a proposal from the page (once per browser; needs the page's cookie)."""
    try:
        enforce_rate_limit(request, bucket="voting")
    except AppError:
        return _back("limited")
    try:
        proposal = valid_proposal_id(proposal_id, session)
    except NotFound:
        return _back("invalid")
    keys = client_keys(request, settings.secret_key or "", proposal_id)
    if keys is None:
        return _back("no_cookie")
    support = {"supporter_key": keys.supporter_key, "network_key": keys.network_key}
    try:
        proposals.check_support(session, proposal=proposal, **support)
    except AppError as exc:
        return _back("already" if isinstance(exc, AlreadySupported) else "closed")
    # Checked above; only a concurrent duplicate fails here, and it goes up (409) so the
    # request's session rolls back.
    proposals.support_proposal(session, proposal=proposal, **support)
    return _back("supported", f"proposal-{proposal_id}")


# --- published results ----------------------------------------------------------------------


@router.get("/results/{session_id}", response_class=HTMLResponse)
def results_page(
    request: Request, user: OptionalUser, session: SessionDep, session_id: int
) -> Response:
    """The published result: counts, the rule in words, ties, Equal Shares, receipts check."""
    lang = request_language(request)
    try:
        vs = valid_session_id(session_id, session)
    except NotFound:
        return _error(request, translate(lang, "vote.not_found"), 404)
    try:
        res = results.results(session, vs=vs, user=None)  # this page shows the public view
    except Conflict:
        ctx = {"vs": sessions.session_public(session, vs=vs), "reason": "results.not_published"}
        return render(request, "vote_closed.html", ctx, status_code=409)
    en = lang == "en"
    kind = SessionKind(vs.kind)
    figure = None
    if isinstance(res, SelectionResult):
        # The rule is in words on the page already.
        figure = figures.vote(res.model_copy(update={"rule": ""}), lang=lang).to_plotly_json()
    titles = {p.project_id: (p.title_en if en and p.title_en else p.title) for p in res.projects}
    ctx = {
        "vs": vs,
        "res": res,
        "kind": kind.value,
        "en": en,
        "titles": titles,
        "rule": res.rule_en if en else res.rule,
        # The quorum as the 公告 and the hall's screen word it: 三分之二.
        "quorum_words": (
            ""
            if res.attendance is None
            else (res.attendance.quorum or "")
            if en
            else zh_fraction(res.attendance.quorum)
        ),
        "tie_lines": [
            translate(
                lang,
                "results.tie",
                names=("; " if en else "、").join(titles[i] for i in tie.project_ids),
                n=tie.votes_for,
                how=tie.text_en if en else tie.text,
            )
            for tie in res.ties
        ],
        "mes_titles": (
            [titles[p] for p in res.equal_shares.selected]
            if isinstance(res, SelectionResult)
            else []
        ),
        "figure_json": _json_block(figure) if figure else "",
        "boot_json": _json_block(
            {
                "ballots_url": f"/api/v1/voting-sessions/{vs.id}/ballots",
                "titles": {str(k): v for k, v in titles.items()},
            }
        ),
    }
    return render(request, "results.html", ctx)
