"""Analytics reads on a read replica (MINYI_ANALYTICS_DATABASE_URL): every analytics view
answers from the analytics engine, which never writes, while audit records of exports land on
the primary. The replica is stood in for by a role whose transactions are read-only."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from service.audit import AuditEntry
from tests.hardening.world import World, seed

READER = "minyi_reader"
WRITES = ("insert", "update", "delete", "create", "alter", "drop", "truncate")


@pytest.fixture
def reader_url(database_url: str) -> str:
    """The test database reached as a login whose every transaction is read-only."""
    if database_url.startswith("sqlite"):
        pytest.skip("a read-only role needs PostgreSQL")
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text(
                "DO $$ BEGIN CREATE ROLE minyi_reader LOGIN; "
                "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
        )
        conn.execute(text(f"ALTER ROLE {READER} SET default_transaction_read_only = on"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {READER}"))
        conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}"))
    admin.dispose()
    return make_url(database_url).set(username=READER, password=None).render_as_string(False)


@pytest.fixture
def replica_app(make_app: Callable[..., FastAPI], reader_url: str) -> FastAPI:
    return make_app(analytics_database_url=reader_url)


@pytest.fixture
def statements(replica_app: FastAPI) -> Iterator[list[str]]:
    """Every statement the analytics engine sends, in order."""
    seen: list[str] = []

    def _log(_conn: object, _cur: object, stmt: str, *_args: object) -> None:
        seen.append(stmt)

    engine: Engine = replica_app.state.analytics_engine
    event.listen(engine, "before_cursor_execute", _log)
    yield seen
    event.remove(engine, "before_cursor_execute", _log)


def test_analytics_engine_is_the_replica(replica_app: FastAPI) -> None:
    """The setting gives the analytics views an engine of their own on the reader's login."""
    assert replica_app.state.analytics_engine is not replica_app.state.engine
    assert replica_app.state.analytics_engine.url.username == READER


def test_every_analytics_view_reads_the_replica(
    replica_app: FastAPI, statements: list[str]
) -> None:
    """Each view answers 200 with its reads on the replica; the replica is never written."""
    with TestClient(replica_app) as client:
        world: World = seed(client, replica_app.state.engine)
        ev = world.tokens["evaluator"]
        cid = world.campaign_id
        views = [
            f"/api/v1/campaigns/{cid}/indicators",
            f"/api/v1/campaigns/{cid}/distribution",
            f"/api/v1/campaigns/{cid}/ranking",
            f"/api/v1/campaigns/{cid}/trends",
            f"/api/v1/campaigns/{cid}/difference?a=dept-civil",
            f"/api/v1/campaigns/{cid}/reliability",
            f"/api/v1/campaigns/{cid}/sensitivity",
            f"/api/v1/campaigns/{world.invitation_campaign_id}/response-rate",
            f"/api/v1/campaigns/{cid}/comparability?with={world.invitation_campaign_id}",
            f"/api/v1/campaigns/{cid}/comparison?with={world.invitation_campaign_id}",
            f"/api/v1/campaigns/{cid}/comments",
            f"/api/v1/campaigns/{cid}/comments/themes",
            f"/api/v1/campaigns/{cid}/comments/aspects",
            f"/api/v1/dashboard?campaign_id={cid}",
            f"/api/v1/figures/ranking?campaign_id={cid}",
            f"/api/v1/tables/ranking?campaign_id={cid}&format=json",
            f"/dashboard?campaign_id={cid}",
        ]
        for path in views:
            before = len(statements)
            r = client.get(path, headers=ev, follow_redirects=False)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
            assert len(statements) > before, f"{path} did not read the replica"
        if world.voting_session_id is not None:
            # The seeded session is open: the vote view refuses (409), it does not fail.
            r = client.get(
                f"/api/v1/voting-sessions/{world.voting_session_id}/analytics", headers=ev
            )
            assert r.status_code == 409, r.text[:300]
    writes = [s for s in statements if s.lstrip().lower().startswith(WRITES)]
    assert writes == []


def test_exports_audit_on_the_primary(replica_app: FastAPI, statements: list[str]) -> None:
    """A table export and a report read the replica and record their audit entry on the
    primary (the replica's role could not have written it)."""
    with TestClient(replica_app) as client:
        world = seed(client, replica_app.state.engine)
        ev = world.tokens["evaluator"]
        cid = world.campaign_id
        r = client.get(f"/api/v1/tables/ranking?campaign_id={cid}&format=csv", headers=ev)
        assert r.status_code == 200, r.text[:300]
        r = client.get(f"/api/v1/reports/{cid}", headers=ev)
        assert r.status_code == 200, r.text[:300]
    assert statements, "the exports did not read the replica"
    with Session(replica_app.state.engine) as s:
        actions = set(s.exec(select(AuditEntry.action)).all())
    assert {"table.export", "report.export"} <= actions


def test_a_write_through_the_analytics_engine_fails(replica_app: FastAPI) -> None:
    """The analytics engine cannot write, so a view that tried would fail, not diverge."""
    with Session(replica_app.state.analytics_engine) as s, pytest.raises(DBAPIError) as err:
        s.execute(
            text(
                "INSERT INTO audit_log (at, actor, action, target, detail, prev_hash, hash) "
                "VALUES (now(), 'x', 'x', '', '{}', '', '')"
            )
        )
    assert "read-only" in str(err.value)
