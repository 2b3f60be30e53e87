"""The console's projects page (being built)."""

from fastapi import APIRouter

from frontend.pages.admin.access import ConsoleRoute

router = APIRouter(route_class=ConsoleRoute)
