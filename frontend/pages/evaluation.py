"""The democratic evaluation's results in the console (organisation department and admins):

- /admin/evaluations: the evaluations, with their state (results once closed);
- /admin/evaluations/{id}: a group of subjects (all, teams or leaders, or one unit's): scores
  with intervals and the overall grades, charted and tabled, with the rules flagged;
- /admin/evaluations/{id}/subjects/{subject_id}: one subject: grades per rater group and per
  item, the rules in words, and the printable one-page report.

Every results page calls ``read_evaluation``, as the API does, so each view is audited with
who read which subjects. Figures are embedded as JSON blocks that evaluation.js draws.
"""

from __future__ import annotations

from typing import Annotated, Any

import plotly.io as pio
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from analytics.assessment import service as assessment_service
from analytics.evaluation import figures
from analytics.evaluation import service as results
from analytics.evaluation.schemas import EvaluationResults
from analytics.evaluation.words import pick
from frontend.i18n import request_language, translate
from frontend.pages.admin.access import ConsoleOrganisation, ConsoleRoute
from frontend.pages.admin.common import console_render, office_time
from service.db import SessionDep, utcnow
from surveys.evaluation.models import SubjectKind
from surveys.forms.dependencies import CampaignById

router = APIRouter(route_class=ConsoleRoute)


def _json(fig: Any) -> str:
    """A figure as JSON that cannot close the script element it sits in."""
    return str(pio.to_json(fig, validate=False)).replace("</", "<\\/")


def _status(request: Request, closes_at: Any) -> str:
    lang = request_language(request)
    return translate(lang, "evr.page.closed" if closes_at <= utcnow() else "evr.page.running")


@router.get("/admin/evaluations", response_class=HTMLResponse)
def evaluations_page(
    request: Request, user: ConsoleOrganisation, session: SessionDep
) -> HTMLResponse:
    """The democratic evaluations, with a link to the results of each closed one."""
    campaigns = results.evaluation_campaigns(session)
    now = utcnow()
    rows = [
        {
            "id": c.id,
            "title": pick(request_language(request), c.title, c.title_en),
            "closes_at": c.closes_at,
            "closed": c.closes_at <= now,
            "status": _status(request, c.closes_at),
        }
        for c in campaigns
    ]
    return console_render(
        request, "admin/evaluations.html", {"section": "evaluations", "rows": rows}
    )


def _read(
    request: Request, session: SessionDep, user: Any, campaign: Any, **filters: Any
) -> EvaluationResults | HTMLResponse:
    """The results through the audited read, or the 409 page saying when a running
    evaluation's results can be read (a campaign of another kind raises its 409)."""
    if results.is_running(campaign):
        lang = request_language(request)
        when = office_time(request, campaign.closes_at)
        msg = translate(lang, "evr.page.not_closed", time=when)
        return console_render(request, "error.html", {"message": msg}, status_code=409)
    return results.read_evaluation(
        session,
        campaign=campaign,
        k=request.app.state.settings.min_group_size,
        actor=user.username,
        **filters,
    )


@router.get("/admin/evaluations/{campaign_id}", response_class=HTMLResponse)
def evaluation_results_page(
    request: Request,
    user: ConsoleOrganisation,
    campaign: CampaignById,
    session: SessionDep,
    kind: SubjectKind | None = None,
    unit_code: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """A group of subjects: scores with intervals, overall grades and the rules (audited)."""
    lang = request_language(request)
    got = _read(
        request,
        session,
        user,
        campaign,
        kind=kind.value if kind else None,
        unit_code=unit_code or None,
    )
    if isinstance(got, HTMLResponse):
        return got
    # The unit filter offers the units of all the campaign's subjects, not only those shown.
    units = results.subject_units(session, campaign_id=got.campaign_id)
    figs = figures.group_figures(got.subjects, got.scale, lang=lang, k=got.k)
    ctx: dict[str, Any] = {
        "section": "evaluations",
        "r": got,
        "title": pick(lang, got.title, got.title_en),
        "pick": lambda a, b: pick(lang, a, b),
        "figures": {name: _json(f) for name, f in figs.items()},
        "kind": kind.value if kind else "",
        "unit_code": unit_code or "",
        "units": units,
    }
    return console_render(request, "admin/evaluation_results.html", ctx)


@router.get("/admin/evaluations/{campaign_id}/subjects/{subject_id}", response_class=HTMLResponse)
def evaluation_subject_page(
    request: Request,
    user: ConsoleOrganisation,
    campaign: CampaignById,
    subject_id: int,
    session: SessionDep,
) -> HTMLResponse:
    """One subject: grades per rater group and item, the rules in words (audited)."""
    lang = request_language(request)
    got = _read(request, session, user, campaign, subject_id=subject_id)
    if isinstance(got, HTMLResponse):
        return got
    subject = got.subjects[0]
    figs = figures.subject_figures(subject, got.scale, lang=lang, k=got.k)
    ctx: dict[str, Any] = {
        "section": "evaluations",
        "r": got,
        "s": subject,
        "title": pick(lang, got.title, got.title_en),
        "pick": lambda a, b: pick(lang, a, b),
        "figures": {name: _json(f) for name, f in figs.items()},
        "known_grades": [g for g in got.scale if g.points is not None],
        "unknown": next((g for g in got.scale if g.points is None), None),
        "absent_labels": [
            pick(lang, g.label, g.label_en) for g in got.rater_groups if g.key in subject.absent
        ],
        "report_url": f"/api/v1/campaigns/{got.campaign_id}/evaluation/subjects/"
        f"{subject.subject_id}/report?lang={lang}",
        "assessments": assessment_service.assessments_using(
            session, campaign_id=got.campaign_id, kind=subject.kind
        ),
        "assessment_subject_id": subject.subject_id,
    }
    return console_render(request, "admin/evaluation_subject.html", ctx)
