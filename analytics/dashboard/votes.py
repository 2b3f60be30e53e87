"""The vote panels of a dashboard: the published results and the projects' progress."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from analytics.dashboard.rows import SurveyRows
from service.errors import NotFound
from surveys.voting import projects as voting_projects
from surveys.voting import results as voting_results
from surveys.voting import sessions as voting_sessions
from surveys.voting.models import SessionKind, SessionState, VotingSession
from surveys.voting.schemas import SelectionResult


class VoteRows(SurveyRows):
    """The chosen voting session's rows."""

    @cached_property
    def voting_session(self) -> VotingSession | None:
        """The chosen published selection session, else the latest one (None when none)."""
        if self.voting_session_id is None:
            found = voting_sessions.list_sessions(self.session, states=[SessionState.published])
            chosen = [vs for vs in found if vs.kind == SessionKind.selection]
            return chosen[0] if chosen else None
        vs = self.session.get(VotingSession, self.voting_session_id)
        if vs is None or vs.state != SessionState.published or vs.kind != SessionKind.selection:
            raise NotFound("No published selection session with this id")
        return vs

    def vote_results(self) -> SelectionResult:
        """The published results of the voting session, the rule in the page's language."""
        vs = self.voting_session
        if vs is None:
            raise NotFound("No published voting session")
        res = voting_results.results(self.session, vs=vs, user=None)
        assert isinstance(res, SelectionResult)  # voting_session is a selection session
        if self.lang == "en" and res.rule_en:
            res = res.model_copy(update={"rule": res.rule_en})
        return res

    def tracker_rows(self) -> list[dict[str, Any]]:
        """Progress of the session's selected projects, with the latest update."""
        selected = {p.project_id for p in self.vote_results().projects if p.selected}
        projects = voting_projects.list_projects(
            self.session, statuses=list(voting_projects.IMPLEMENTATION), with_updates=True
        )
        return voting_projects.progress_rows(p for p in projects if p.id in selected)

    def voting_sessions(self) -> list[dict[str, Any]]:
        """Published selection sessions for the picker, newest first."""
        en = self.lang == "en"
        return [
            {"id": vs.id, "title": (vs.title_en if en and vs.title_en else vs.title)}
            for vs in voting_sessions.list_sessions(self.session, states=[SessionState.published])
            if vs.kind == SessionKind.selection
        ]

    def has_vote(self) -> bool:
        """True when there is a published voting session to show."""
        return bool(self.voting_sessions())
