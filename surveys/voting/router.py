"""Routes for proposals, projects, voting sessions, ballots and results."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response, status

from service.auth import AdminUser, DeputyUser, OptionalUser, SettingsDep
from service.db import SessionDep
from service.models import Role
from surveys.voting import ballots, pabulib, projects, proposals, results, runoff, sessions
from surveys.voting.dependencies import (
    ProjectById,
    ProposalById,
    ScrubAfterCommit,
    SessionById,
    Supporter,
    VotingRateLimited,
    ensure_client_cookie,
)
from surveys.voting.models import (
    BallotIn,
    Created,
    ProjectCreate,
    ProjectEdit,
    ProjectPublic,
    ProjectStatus,
    ProjectUpdateCreate,
    ProjectUpdatePublic,
    ProposalCreate,
    ProposalPublic,
    ProposalReview,
    ProposalStatus,
    PublicBallot,
    Receipt,
    SessionCreate,
    SessionKind,
    SessionPublic,
    SessionState,
    SessionSummary,
    SessionUpdate,
    SupportResult,
    Turnout,
)
from surveys.voting.schemas import RulePreview, RulePreviewIn, VoteResult
from surveys.voting.scrutiny import CloseIn

router = APIRouter(prefix="/api/v1", tags=["voting"])


# --- proposals ------------------------------------------------------------------------------


@router.post(
    "/proposals",
    response_model=ProposalPublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=[VotingRateLimited],
)
def create_proposal(
    data: ProposalCreate,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> ProposalPublic:
    """Propose a candidate livelihood project (anyone, anonymous, rate-limited); its status
    is "pending" until the office approves it, unless proposals are published at once."""
    ensure_client_cookie(request, response)
    need = settings.proposals_need_approval
    proposal = proposals.create_proposal(session, data=data, need_approval=need)
    return proposals.proposal_view(session, proposal=proposal)


@router.get("/proposals", response_model=list[ProposalPublic])
def read_proposals(
    user: OptionalUser,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
    status: ProposalStatus | None = None,
) -> list[ProposalPublic]:
    """Residents' proposals, most supported first (sets the client cookie used to support).

    The public sees approved ones (and waiting ones only when proposals need no approval),
    never rejected ones; an admin sees every state, e.g. ``?status=pending`` for the queue."""
    ensure_client_cookie(request, response)
    return proposals.list_proposals(
        session,
        status=status,
        need_approval=settings.proposals_need_approval,
        everything=user is not None and user.role == Role.admin,
    )


@router.post(
    "/proposals/{proposal_id}/support",
    response_model=SupportResult,
    status_code=status.HTTP_201_CREATED,
    dependencies=[VotingRateLimited],
)
def support_proposal(proposal: ProposalById, keys: Supporter, session: SessionDep) -> SupportResult:
    """Support a proposal, once per browser (best effort; see docs/voting.md)."""
    return proposals.support_proposal(
        session, proposal=proposal, supporter_key=keys.supporter_key, network_key=keys.network_key
    )


@router.post("/proposals/{proposal_id}/review", response_model=ProposalPublic)
def review_proposal(
    admin: AdminUser, proposal: ProposalById, data: ProposalReview, session: SessionDep
) -> ProposalPublic:
    """Approve, reject (the note is the reason), reopen, merge a duplicate into a proposal or
    a project, or shortlist a proposal into a new project (admin; audited)."""
    return proposals.review_proposal(session, proposal=proposal, data=data, actor=admin.username)


@router.post(
    "/proposals/{proposal_id}/shortlist",
    response_model=Created,
    status_code=status.HTTP_201_CREATED,
)
def create_proposal_project(
    admin: AdminUser, proposal: ProposalById, data: ProjectCreate, session: SessionDep
) -> Created:
    """Shortlist a proposal into a new candidate project with the full project fields (admin;
    audited; 409 when it is already a project). ``GET /api/v1/proposals`` gives the
    proposal's title, description, category, area and rough cost to pre-fill them."""
    project = proposals.shortlist_proposal(
        session, proposal=proposal, data=data, actor=admin.username
    )
    return Created(id=project.id or 0)


# --- projects -------------------------------------------------------------------------------


@router.post("/projects", response_model=Created, status_code=status.HTTP_201_CREATED)
def create_project(admin: AdminUser, data: ProjectCreate, session: SessionDep) -> Created:
    """Create a candidate project (admin)."""
    project = projects.create_project(session, data=data, actor=admin.username)
    return Created(id=project.id or 0)


@router.get("/projects", response_model=list[ProjectPublic])
def read_projects(
    session: SessionDep, status: Annotated[list[ProjectStatus] | None, Query()] = None
) -> list[ProjectPublic]:
    """Projects with their status and progress (public)."""
    return projects.list_projects(session, statuses=status, with_updates=True)


@router.get("/projects/{project_id}", response_model=ProjectPublic)
def read_project(project: ProjectById, session: SessionDep) -> ProjectPublic:
    """One project with its progress updates (public)."""
    return projects.project_public(session, project=project)


@router.patch("/projects/{project_id}", response_model=ProjectPublic)
def update_project(
    admin: AdminUser, project: ProjectById, data: ProjectEdit, session: SessionDep
) -> ProjectPublic:
    """Change a project's fields or status (admin; audited). Once it is on the slate of an
    opened session, only its status and English texts may change (409 otherwise)."""
    project = projects.update_project(session, project=project, data=data, actor=admin.username)
    return projects.project_public(session, project=project)


@router.post(
    "/projects/{project_id}/updates",
    response_model=ProjectUpdatePublic,
    status_code=status.HTTP_201_CREATED,
)
def create_project_update(
    admin: AdminUser, project: ProjectById, data: ProjectUpdateCreate, session: SessionDep
) -> ProjectUpdatePublic:
    """Report implementation progress of a selected project (admin)."""
    return projects.add_progress(session, project=project, data=data, actor=admin.username)


# --- voting sessions ------------------------------------------------------------------------


@router.post("/voting-sessions", response_model=Created, status_code=status.HTTP_201_CREATED)
def create_voting_session(admin: AdminUser, data: SessionCreate, session: SessionDep) -> Created:
    """Create a draft session: slate, electorate, budget cap and rule (admin)."""
    vs = sessions.create_session(session, data=data, actor=admin.username)
    return Created(id=vs.id or 0)


@router.get("/voting-sessions", response_model=list[SessionSummary])
def read_voting_sessions(
    session: SessionDep, state: Annotated[list[SessionState] | None, Query()] = None
) -> list[SessionSummary]:
    """Voting sessions, newest first (public)."""
    return [
        SessionSummary.model_validate(vs) for vs in sessions.list_sessions(session, states=state)
    ]


@router.get("/voting-sessions/{session_id}", response_model=SessionPublic)
def read_voting_session(vs: SessionById, session: SessionDep) -> SessionPublic:
    """A session's slate, rule and state (public; never who voted or how)."""
    return sessions.session_public(session, vs=vs)


@router.patch("/voting-sessions/{session_id}", response_model=SessionPublic)
def update_voting_session(
    admin: AdminUser, vs: SessionById, data: SessionUpdate, session: SessionDep
) -> SessionPublic:
    """Change a draft session (409 once it is open: the configuration is frozen)."""
    vs = sessions.update_session(session, vs=vs, data=data, actor=admin.username)
    return sessions.session_public(session, vs=vs)


@router.delete("/voting-sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_voting_session(admin: AdminUser, vs: SessionById, session: SessionDep) -> None:
    """Delete a draft session, a draft run-off included (409 once it was opened)."""
    sessions.delete_session(session, vs=vs, actor=admin.username)


@router.post("/voting-sessions/{session_id}/open", response_model=SessionPublic)
def open_voting_session(admin: AdminUser, vs: SessionById, session: SessionDep) -> SessionPublic:
    """Open the vote: the configuration is frozen and hashed (admin)."""
    vs = sessions.open_session(session, vs=vs, actor=admin.username)
    return sessions.session_public(session, vs=vs)


@router.post("/voting-sessions/{session_id}/close", response_model=SessionPublic)
def close_voting_session(
    admin: AdminUser,
    vs: SessionById,
    session: SessionDep,
    scrub: ScrubAfterCommit,
    body: Annotated[CloseIn | None, Body()] = None,
) -> SessionPublic:
    """Close the vote and count it (admin); old copies of the vote rows are then scrubbed.
    A hall vote names its scrutineers (``{"scrutineers": [...]}``, at least two) unless its
    paper count named them: 422 naming ``scrutineers`` otherwise."""
    names = body.scrutineers if body is not None else None
    vs = sessions.close_session(session, vs=vs, actor=admin.username, scrutineers=names)
    scrub()
    return sessions.session_public(session, vs=vs)


@router.post("/voting-sessions/{session_id}/publish", response_model=SessionPublic)
def publish_voting_session(admin: AdminUser, vs: SessionById, session: SessionDep) -> SessionPublic:
    """Publish the results and the ballots (admin)."""
    vs = sessions.publish_session(session, vs=vs, actor=admin.username)
    return sessions.session_public(session, vs=vs)


@router.get("/voting-rules/preview", response_model=RulePreview)
def read_rule_preview(admin: AdminUser, data: Annotated[RulePreviewIn, Query()]) -> RulePreview:
    """The rule of a configuration in plain words, zh-CN and en (admin; 422 naming a bad
    ``threshold_value``). The console's session form shows it as it is filled in."""
    text, text_en = sessions.rule_preview(
        kind=SessionKind(data.kind),
        budget_cap=data.budget_cap,
        threshold=data.threshold_api(),
        threshold_loc=("query", "threshold_value"),
        on_no_fit=data.on_no_fit,
        max_selected=data.max_selected,
        max_for_per_ballot=data.max_for_per_ballot,
        electorate=data.electorate,
    )
    return RulePreview(text=text, text_en=text_en)


@router.post(
    "/voting-sessions/{session_id}/ballots",
    response_model=Receipt,
    status_code=status.HTTP_201_CREATED,
)
def create_ballot(
    deputy: DeputyUser, vs: SessionById, data: BallotIn, session: SessionDep
) -> Receipt:
    """Cast a secret ballot (a deputy of the electorate, once); the receipt is shown once."""
    return ballots.cast_ballot(session, vs=vs, user=deputy, data=data)


@router.get("/voting-sessions/{session_id}/ballots", response_model=list[PublicBallot])
def read_ballots(vs: SessionById, session: SessionDep) -> list[PublicBallot]:
    """Every ballot under its receipt's hash, after publication: check yours, or recount."""
    return results.public_ballots(session, vs=vs)


@router.get("/voting-sessions/{session_id}/turnout", response_model=Turnout)
def read_turnout(vs: SessionById, session: SessionDep) -> Turnout:
    """Ballots cast out of the electorate (the only figure visible while a vote is open)."""
    return ballots.turnout(session, vs=vs)


@router.get("/voting-sessions/{session_id}/results", response_model=VoteResult)
def read_results(user: OptionalUser, vs: SessionById, session: SessionDep) -> VoteResult:
    """The counted result with the rule in words (409 while open; public once published)."""
    return results.results(session, vs=vs, user=user)


@router.get("/voting-sessions/{session_id}/export.pb", response_class=Response)
def read_export(user: OptionalUser, vs: SessionById, session: SessionDep) -> Response:
    """The session as a Pabulib file (approval = "for"); no deputy identities in it."""
    text = pabulib.export_pabulib(session, vs=vs, user=user)
    return Response(
        text,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="minyi-session-{vs.id}.pb"'},
    )


# --- run-offs -------------------------------------------------------------------------------


@router.post(
    "/voting-sessions/{session_id}/runoff",
    response_model=SessionPublic,
    status_code=status.HTTP_201_CREATED,
)
def create_runoff(admin: AdminUser, vs: SessionById, session: SessionDep) -> SessionPublic:
    """Start a run-off among the candidates tied at a closed session's cut line: a draft with
    the same electorate, attendance carried over, the places and budget left (admin; audited;
    409 when no tie awaits a run-off or one already exists)."""
    child = runoff.start_runoff(session, vs=vs, actor=admin.username)
    return sessions.session_public(session, vs=child)
