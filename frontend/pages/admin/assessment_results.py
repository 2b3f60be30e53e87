"""The assessment's results in the console: /admin/assessments/{id}/results (every subject
with its composite, interval, rank range and the ranks under other weights) and
/admin/assessments/{id}/subjects/{subject_id} (one subject's page for the file, printable).

Both read through ``analytics.assessment.snapshot``, as the API does: a finalised assessment's
results as stored when it was finalised (the page says so, and when, in local time), a draft's
computed now; every view is in the audit log with who read which assessment and subject."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from analytics.assessment import results, snapshot
from analytics.assessment.composite import SOURCES
from analytics.assessment.dependencies import AssessmentById
from analytics.assessment.schemas import AssessmentResult
from frontend.i18n import request_language, translate
from frontend.pages.admin.access import ConsoleOrganisation, ConsoleRoute
from frontend.pages.admin.common import console_render
from service.db import SessionDep
from service.errors import NotFound

router = APIRouter(route_class=ConsoleRoute)


def _names(result: AssessmentResult) -> dict[int, str]:
    return {s.subject_id: s.name for s in result.subjects}


def scenario_label(lang: str, name: str) -> str:
    """A sensitivity scenario in words: "群众口碑 +10", "去掉实绩", "等权重"..."""
    for src in SOURCES:
        if name.startswith(src) and name[len(src) :] in ("+10", "-10"):
            return translate(lang, f"assess.source.{src}") + " " + name[len(src) :]
        if name == f"drop_{src}":
            return translate(
                lang, "assess.scenario.drop", source=translate(lang, f"assess.source.{src}")
            )
    return translate(lang, f"assess.scenario.{name}")


def _context(request: Request, result: AssessmentResult) -> dict[str, Any]:
    weights = result.assessment.config.weights
    lang = request_language(request)
    return {
        "scenario_label": lambda name: scenario_label(lang, name),
        "section": "assessments",
        "r": result,
        "a": result.assessment,
        "sources": SOURCES,
        "weights": weights,
        "names": _names(result),
        "ranked": sum(1 for s in result.subjects if s.rank is not None),
    }


@router.get("/admin/assessments/{assessment_id}/results", response_class=HTMLResponse)
def assessment_results_page(
    request: Request, user: ConsoleOrganisation, assessment: AssessmentById, session: SessionDep
) -> HTMLResponse:
    """Every subject's composite with interval, rank range and sensitivity (audited)."""
    settings = request.app.state.settings
    result = snapshot.view_results(
        session,
        assessment=assessment,
        actor=user.username,
        min_group_size=settings.min_group_size,
        time_zone=settings.time_zone,
    )
    return console_render(request, "admin/assessment_results.html", _context(request, result))


@router.get("/admin/assessments/{assessment_id}/subjects/{subject_id}", response_class=HTMLResponse)
def assessment_subject_page(
    request: Request,
    user: ConsoleOrganisation,
    assessment: AssessmentById,
    subject_id: int,
    session: SessionDep,
) -> HTMLResponse:
    """One subject's assessment on one printable page, for the file (audited)."""
    settings = request.app.state.settings
    full = snapshot.read_results(
        session,
        assessment=assessment,
        min_group_size=settings.min_group_size,
        time_zone=settings.time_zone,
    )
    subject = next((s for s in full.subjects if s.subject_id == subject_id), None)
    if subject is None:
        raise NotFound("subject not in this assessment")
    results.record_view(session, assessment=assessment, actor=user.username, subject_id=subject_id)
    ctx = _context(request, full)
    ctx["s"] = subject
    return console_render(request, "admin/assessment_subject.html", ctx)
