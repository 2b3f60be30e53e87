"""Vote analytics route (evaluators and admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from analytics.votes.service import analyze
from service.auth import EvaluatorUser
from service.db import AnalyticsSessionDep
from surveys.voting import results
from surveys.voting.dependencies import SessionById

router = APIRouter(prefix="/api/v1/voting-sessions", tags=["analytics"])


@router.get(
    "/{session_id}/analytics", response_model=dict[str, Any], status_code=status.HTTP_200_OK
)
def read_vote_analytics(
    user: EvaluatorUser, vs: SessionById, session: AnalyticsSessionDep
) -> dict[str, Any]:
    """Margins to the threshold, budget use, and the rule against Equal Shares (once counted)."""
    return analyze(results.results(session, vs=vs, user=user))
