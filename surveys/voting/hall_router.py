"""Routes of the vote in the hall: attendance, seat cards, the big screen's state."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["voting: hall"])
