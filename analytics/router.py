"""Analytics routes (indicators, rankings, comments, figures)."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["analytics"])
