"""The district office's console under /admin: one module per page, one router for all."""

from fastapi import APIRouter

from frontend.pages.admin import overview

router = APIRouter(include_in_schema=False)
router.include_router(overview.router)
