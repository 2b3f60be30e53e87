"""Analytics routes: one aggregate router; each analytics module adds its own sub-router here."""

from fastapi import APIRouter, Depends

from analytics.assessment.router import router as assessment_router
from analytics.comments.router import router as text_router
from analytics.dashboard.router import router as figures_router
from analytics.evaluation.router import router as evaluation_router
from analytics.indicators.comparison_router import router as comparison_router
from analytics.indicators.router import router as indicators_router
from analytics.votes.router import router as votes_router
from service.auth import flagged_switch_admin_only

# The flagged switch is the admin's alone on every aggregate that takes it.
FLAGGED_GUARD = [Depends(flagged_switch_admin_only)]

router = APIRouter()
router.include_router(indicators_router, dependencies=FLAGGED_GUARD)
router.include_router(comparison_router)
router.include_router(text_router, dependencies=FLAGGED_GUARD)
router.include_router(votes_router)
router.include_router(figures_router, dependencies=FLAGGED_GUARD)
router.include_router(assessment_router)
router.include_router(evaluation_router)
