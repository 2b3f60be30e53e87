"""Paper ballots: sheets with serial numbers, the hand count, and its reconciliation."""

from __future__ import annotations

from sqlmodel import Session

from surveys.voting.models import VotingSession
from surveys.voting.schemas import PaperOut


def paper_tallies(
    session: Session, vs: VotingSession
) -> tuple[dict[int, dict[str, int]], PaperOut | None]:
    """The valid paper ballots' counts per candidate and choice, and the reconciliation
    (empty and None when the session has no paper count)."""
    return {}, None
