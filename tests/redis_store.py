"""The Redis the shared-state tests run against (``MINYI_TEST_REDIS_URL``), or a skip.

Its database is flushed before and after each test: give the tests a database number of their
own. ``scripts/test`` starts the local Redis when it is down, as it does PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy.engine import Engine

REDIS_URL = os.environ.get("MINYI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(name="redis_url")
def redis_url_fixture() -> Iterator[str]:
    """The test Redis's URL, its database empty; the test is skipped when it cannot be reached."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.skip(
            f"Redis not reachable at MINYI_TEST_REDIS_URL={REDIS_URL} ({type(exc).__name__}); "
            "scripts/test starts the local one"
        )
    client.flushdb()
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


def closed_url() -> str:
    """A Redis URL on which nothing listens (a server that is down)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def seed_campaign(client: Any, engine: Engine) -> tuple[int, dict[str, str]]:
    """An open campaign (no responses) on an empty database, and an evaluator's headers;
    ``client`` is an ``httpx.Client`` on a server or a ``TestClient``."""
    from sqlmodel import Session

    from service.models import Role
    from tests.hardening.world import add_user, ok, token
    from tests.surveys.forms.factories import campaign_body, make_units, survey_body

    with Session(engine) as s:
        add_user(s, Role.admin, "r-admin")
        add_user(s, Role.evaluator, "r-eval")
        s.commit()
        make_units(s)
    admin = token(client, "r-admin")
    survey_id = ok(client.post("/api/v1/surveys", json=survey_body(), headers=admin))["id"]
    body = campaign_body(survey_id)
    campaign_id = ok(client.post("/api/v1/campaigns", json=body, headers=admin))["id"]
    return int(campaign_id), token(client, "r-eval")
