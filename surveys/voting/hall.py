"""The vote in the hall: attendance (应到 / 实到), the quorum, and seat cards."""

from __future__ import annotations

from typing import Any

from surveys.voting.models import VotingSession
from surveys.voting.schemas import AttendanceOut


def attendance_out(vs: VotingSession) -> AttendanceOut | None:
    """The attendance frozen at opening, for the result (None for a remote session)."""
    cfg: dict[str, Any] = vs.frozen_config or {}
    att = cfg.get("attendance")
    if att is None:
        return None
    return AttendanceOut(**att)


def quorum_of(mode: str, quorum: str | None) -> str | None:
    """A session's quorum: the one given, else the mode's default (hall: at least 2/3)."""
    if quorum is not None and quorum.strip():
        return quorum.strip()
    return "2/3" if mode == "hall" else None
