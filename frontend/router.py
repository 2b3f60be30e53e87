"""All page routers, mounted last so API routes win."""

from fastapi import APIRouter

from frontend.pages import (
    a11y,
    admin,
    auth,
    dashboard,
    evaluation,
    hall_card,
    hall_screen,
    survey,
    voting,
    voting_notice,
)

router = APIRouter(include_in_schema=False)
router.include_router(auth.router)
router.include_router(a11y.router)
router.include_router(dashboard.router)
router.include_router(voting.router)
router.include_router(hall_card.router)
router.include_router(voting_notice.router)
router.include_router(hall_screen.router)
router.include_router(survey.router)
router.include_router(admin.router)
router.include_router(evaluation.router)
