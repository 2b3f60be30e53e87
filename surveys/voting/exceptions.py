"""Errors of the vote that a caller tells apart (the ballot and projects pages show each in
words); each is an ordinary ``service.errors`` class, so the API answers them as before."""

from __future__ import annotations

from service.errors import Conflict, Forbidden


class NotInElectorate(Forbidden):
    """The deputy is not in the session's electorate."""


class SessionNotOpen(Conflict):
    """The session does not take ballots (draft, closed or published)."""


class NotSignedIn(Conflict):
    """A hall vote takes ballots only from deputies signed in (实到)."""


class AlreadyVoted(Conflict):
    """The deputy has cast a ballot in this session already."""


class AlreadySupported(Conflict):
    """This browser has supported the proposal already."""
