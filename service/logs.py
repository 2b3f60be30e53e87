"""Logging set-up: access lines never carry query strings (invitation codes, tokens)."""

from __future__ import annotations

import logging


class DropQueryStrings(logging.Filter):
    """Strip the query string from uvicorn access-log arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            record.args = (*args[:2], path, *args[3:])
        return True


def install_log_filters() -> None:
    """Attach the filters to the loggers that print request lines."""
    logging.getLogger("uvicorn.access").addFilter(DropQueryStrings())
