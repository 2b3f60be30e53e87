"""The console's front page: what is open now and what happened last."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from frontend.pages.admin.access import ConsoleAdmin, ConsoleRoute
from frontend.templating import render

router = APIRouter(route_class=ConsoleRoute)


@router.get("/admin", response_class=HTMLResponse)
def overview_page(request: Request, admin: ConsoleAdmin) -> HTMLResponse:
    """The overview of open campaigns, open votes, waiting proposals and recent audit events."""
    return render(request, "admin/overview.html", {"section": "overview"})
