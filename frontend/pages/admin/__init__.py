"""The district office's console under /admin: one module per page, one router for all."""

from fastapi import APIRouter

from frontend.pages.admin import overview, users
from frontend.pages.admin import proposals as proposals_page

router = APIRouter(include_in_schema=False)
router.include_router(overview.router)
router.include_router(users.router)
router.include_router(proposals_page.router)
