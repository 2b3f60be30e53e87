"""Logging set-up: access lines never carry query strings (invitation codes, tokens), and the
lines of the residents' survey routes carry no client address.

The second rule keeps logs and data apart: an access log that lists addresses in the order
responses arrived could otherwise be lined up with the responses themselves.
"""

from __future__ import annotations

import logging
import re

# The routes a resident calls: the survey page (and its thanks page), the form the page or an
# app reads, and the public response post.
RESIDENT_PATHS = re.compile(r"^(/s/[^/?]+(/thanks)?|/api/v1/campaigns/[^/?]+/(responses|form))/?$")
HIDDEN_ADDRESS = "-"


class DropQueryStrings(logging.Filter):
    """Strip the query string from uvicorn access-log arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            record.args = (*args[:2], path, *args[3:])
        return True


class HideResidentAddresses(logging.Filter):
    """Replace the client address of uvicorn access lines of the resident routes by "-"."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            if RESIDENT_PATHS.match(path):
                record.args = (HIDDEN_ADDRESS, *args[1:])
        return True


def install_log_filters() -> None:
    """Attach the filters to the loggers that print request lines."""
    access = logging.getLogger("uvicorn.access")
    for f in (DropQueryStrings(), HideResidentAddresses()):
        if not any(type(g) is type(f) for g in access.filters):
            access.addFilter(f)
