"""Validating dependencies: routes never repeat a 404, a rate-limit check or a client key."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request, Response

from service.auth import SettingsDep
from service.db import SessionDep, get_or_404
from service.errors import Forbidden
from service.ratelimit import client_key, enforce_rate_limit
from surveys.voting.models import Project, Proposal, VotingSession
from surveys.voting.proposals import keyed_hash
from surveys.voting.storage import scrub_quietly

CLIENT_COOKIE = "minyi_client"


def valid_session_id(session_id: int, session: SessionDep) -> VotingSession:
    """The voting session with this id, or 404."""
    return get_or_404(session, VotingSession, session_id, "Voting session")


def valid_project_id(project_id: int, session: SessionDep) -> Project:
    """The project with this id, or 404."""
    return get_or_404(session, Project, project_id, "Project")


def valid_proposal_id(proposal_id: int, session: SessionDep) -> Proposal:
    """The proposal with this id, or 404."""
    return get_or_404(session, Proposal, proposal_id, "Proposal")


async def voting_rate_limit(request: Request) -> None:
    """Count a public proposal or support against its client's limit."""
    enforce_rate_limit(request, bucket="voting")


def network_of(address: str) -> str:
    """The client's network: /24 for IPv4, /64 for IPv6 (the address itself otherwise)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def ensure_client_cookie(request: Request, response: Response) -> str:
    """The browser's random client token, set (for a year) when it has none yet."""
    token = request.cookies.get(CLIENT_COOKIE, "")
    if 16 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum():
        return token
    token = secrets.token_urlsafe(24)
    secure = request.app.state.settings.secure_cookies
    response.set_cookie(
        CLIENT_COOKIE, token, max_age=365 * 86400, httponly=True, samesite="lax", secure=secure
    )
    return token


@dataclass
class SupporterKeys:
    supporter_key: str
    network_key: str


def client_keys(request: Request, secret: str, proposal_id: int) -> SupporterKeys | None:
    """The keyed hashes for this browser and network, or None without a client cookie."""
    token = request.cookies.get(CLIENT_COOKIE, "")
    if len(token) < 16:
        return None
    return SupporterKeys(
        supporter_key=keyed_hash(secret, "support", proposal_id, token),
        network_key=keyed_hash(secret, "network", proposal_id, network_of(client_key(request))),
    )


def supporter_keys(
    proposal: Annotated[Proposal, Depends(valid_proposal_id)],
    request: Request,
    settings: SettingsDep,
) -> SupporterKeys:
    """Keyed hashes of the client token cookie and the network, for "support once each".

    The cookie must already exist (it is set when proposals are listed or the page is
    shown): a cross-site form post carries no SameSite=Lax cookie and is refused.
    """
    keys = client_keys(request, settings.secret_key or "", proposal.id or 0)
    if keys is None:
        raise Forbidden("No client token: open the proposals list first (it sets a cookie)")
    return keys


def storage_scrub(request: Request, background: BackgroundTasks) -> Callable[[], None]:
    """Schedule the scrub of old vote rows for after the response, i.e. after the commit."""
    engine = request.app.state.engine
    # Background tasks run once the response is sent, and SessionDep commits before that:
    # VACUUM and the log checkpoint need the closing transaction committed and no other open.
    return lambda: background.add_task(scrub_quietly, engine)


SessionById = Annotated[VotingSession, Depends(valid_session_id)]
ProjectById = Annotated[Project, Depends(valid_project_id)]
ProposalById = Annotated[Proposal, Depends(valid_proposal_id)]
Supporter = Annotated[SupporterKeys, Depends(supporter_keys)]
VotingRateLimited = Depends(voting_rate_limit)
ScrubAfterCommit = Annotated[Callable[[], None], Depends(storage_scrub)]
