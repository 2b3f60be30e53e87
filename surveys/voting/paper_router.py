"""Routes of paper ballots: issue, the hand count, reconciliation."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["voting: paper ballots"])
