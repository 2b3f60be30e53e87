"""Access-log lines never carry query strings (invitation codes, tokens), nor the address of a
resident on the survey routes."""

from __future__ import annotations

import logging

import pytest

from service.logs import DropQueryStrings, HideResidentAddresses


def _access(path: str, method: str = "GET") -> logging.LogRecord:
    """An access record shaped as uvicorn makes it."""
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("203.0.113.7:5000", method, path, "1.1", 200),
        None,
    )


@pytest.mark.parametrize(
    "path",
    [
        "/s/12",
        "/s/12?unit=dept-civil&lang=en",
        "/s/12/thanks",
        "/api/v1/campaigns/12/form",
        "/api/v1/campaigns/12/responses",
    ],
)
def test_resident_routes_log_no_address(path: str) -> None:
    record = _access(path, "POST" if path.endswith("responses") else "GET")
    assert HideResidentAddresses().filter(record)
    assert "203.0.113.7" not in record.getMessage()
    assert record.getMessage().startswith('- - "')


@pytest.mark.parametrize("path", ["/dashboard", "/api/v1/campaigns/12", "/admin/campaigns/12"])
def test_other_routes_keep_the_address(path: str) -> None:
    record = _access(path)
    assert HideResidentAddresses().filter(record)
    assert record.getMessage().startswith("203.0.113.7:5000 - ")


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
