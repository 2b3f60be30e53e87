"""Which of the vote service's refusals a console page is showing, as a catalog key: the
service answers in words (the API's 409), the console in a sentence of the page's language."""

from __future__ import annotations

from service.errors import Conflict
from surveys.voting.hall import QuorumNotMet

_RUNOFF_REFUSALS = (
    ("no tie", "runoff_no_tie"),
    ("already exists", "runoff_exists"),
    ("awaits a run-off", "runoff_pending"),
    ("not closed yet", "runoff_open"),
    ("published with the session", "runoff_round"),
)


def reason_key(exc: Conflict) -> str:
    """Which of the service's refusals this is, for a sentence in the page's language."""
    message = exc.message.lower()
    if "no electorate" in message:
        return "no_electorate"
    if "already selected" in message:
        return "project_selected"
    if "hash" in message:
        return "hash"
    for words, key in _RUNOFF_REFUSALS:  # surveys.voting.runoff's refusals
        if words in message:
            return key
    if isinstance(exc, QuorumNotMet):
        return "quorum"
    if any("\u4e00" <= ch <= "\u9fff" for ch in exc.message):
        return "other"  # e.g. the paper count: its message names the numbers in both languages
    return "state"
