"""Analytics routes: one aggregate router; each analytics module adds its own sub-router here."""

from fastapi import APIRouter

from analytics.comments.router import router as text_router
from analytics.dashboard.router import router as figures_router
from analytics.indicators.router import router as indicators_router
from analytics.votes.router import router as votes_router

router = APIRouter()
router.include_router(indicators_router)
router.include_router(text_router)
router.include_router(votes_router)
router.include_router(figures_router)
