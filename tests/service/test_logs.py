"""Access-log lines never carry query strings (invitation codes, tokens)."""

from __future__ import annotations

import logging

from service.logs import DropQueryStrings


def test_access_log_query_string_is_dropped() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/s/1?code=SECRET123", "1.1", 200),
        None,
    )
    assert DropQueryStrings().filter(record)
    assert "SECRET123" not in record.getMessage()
    assert "/s/1" in record.getMessage()
