"""PostgreSQL: a batch's last round trip in flight while the event loop serves (writer, inflight)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from surveys.forms import writer
from surveys.forms.inflight import InFlight
from surveys.forms.store_pg import Tail
from tests.surveys.forms.factories import count_responses, response_body
from tests.surveys.forms.fixtures import World


@pytest.fixture(autouse=True)
def _postgres_only(client: TestClient) -> None:
    if client.app.state.engine.dialect.name != "postgresql":  # type: ignore[attr-defined]
        pytest.skip("SQLite stores in-process: there is no round trip to leave in flight")


def _count(client: TestClient, cid: int) -> int:
    return count_responses(client.app.state.engine, cid)  # type: ignore[attr-defined]


def _injecting(monkeypatch: pytest.MonkeyPatch, before_commit: list[str]) -> list[int]:
    """The writer's next tail runs these statements first (once)."""
    sent: list[int] = []

    class Injected(InFlight):
        def __init__(self, conn: Any, tail: Tail, done: Any) -> None:
            if not sent:
                extra = [(sql, None) for sql in before_commit]
                tail.statements[:0] = extra
            sent.append(len(tail.statements))
            super().__init__(conn, tail, done)

    monkeypatch.setattr(writer, "InFlight", Injected)
    return sent


def test_the_loop_waits_for_no_answer_of_the_server(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]

    async def run() -> tuple[int, BaseException | None, float]:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("BEGIN")
            landed: asyncio.Future[BaseException | None] = (
                asyncio.get_running_loop().create_future()
            )
            tail = Tail([("SELECT pg_sleep(%s)", (0.4,)), ("COMMIT", None)])
            started = time.monotonic()
            InFlight(conn, tail, landed.set_result).watch(asyncio.get_running_loop())
            ticks = 0
            while not landed.done():
                await asyncio.sleep(0.01)
                ticks += 1
            status = conn.connection.dbapi_connection.info.transaction_status
            assert status.name == "IDLE"  # the COMMIT ran: no transaction left open
            return ticks, landed.result(), time.monotonic() - started

    ticks, error, seconds = asyncio.run(run())
    assert error is None and seconds >= 0.4
    # The loop ran other work all along (a wait that blocked it would allow one tick at most;
    # a loaded machine stretches each 10 ms sleep, so no more is asked).
    assert ticks >= 5


def test_an_error_in_the_tail_is_reported_and_rolls_back(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]

    async def run() -> BaseException | None:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("BEGIN")
            conn.exec_driver_sql("CREATE TEMP TABLE t (x int)")
            landed: asyncio.Future[BaseException | None] = (
                asyncio.get_running_loop().create_future()
            )
            tail = Tail(
                [("INSERT INTO t VALUES (%s)", (1,)), ("SELECT 1/0", None), ("COMMIT", None)]
            )
            InFlight(conn, tail, landed.set_result).watch(asyncio.get_running_loop())
            error = await landed
            conn.rollback()
            # The insert before the error did not survive it; the connection is usable again.
            assert conn.exec_driver_sql("SELECT to_regclass('pg_temp.t')").scalar() is None
            return error

    error = asyncio.run(run())
    assert type(error).__name__ == "DivisionByZero"


def test_a_failed_tail_is_stored_again_the_plain_way(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _injecting(monkeypatch, ["SELECT 1/0"])
    r = client.post(f"/api/v1/campaigns/{world.campaign_id}/responses", json=response_body())
    assert r.status_code == 201
    assert _count(client, world.campaign_id) == 1
    assert len(sent) == 1  # one tail failed; the batch was then stored without one
    r = client.post(f"/api/v1/campaigns/{world.campaign_id}/responses", json=response_body())
    assert r.status_code == 201 and len(sent) == 2  # and the next batch has one again
    assert _count(client, world.campaign_id) == 2


def test_a_connection_lost_in_flight_loses_nothing_and_blocks_nothing(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _injecting(monkeypatch, ["SELECT pg_sleep(5)"])
    engine = client.app.state.engine  # type: ignore[attr-defined]
    body = response_body()
    result: dict[str, Any] = {}

    def post() -> None:
        r = client.post(f"/api/v1/campaigns/{world.campaign_id}/responses", json=body)
        result.update(status=r.status_code, id=r.json().get("id"))

    poster = threading.Thread(target=post)
    poster.start()
    deadline = time.monotonic() + 10
    pid = None
    with engine.connect() as conn:
        while pid is None:
            assert time.monotonic() < deadline, "the tail never reached the server"
            pid = conn.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
                ("%pg_sleep(5)%",),
            ).scalar()
            conn.rollback()  # the activity view is read once per transaction
            time.sleep(0.02)
        # While the batch's write is with the server (5 s), the server answers other requests.
        started = time.monotonic()
        assert client.get(f"/api/v1/campaigns/{world.campaign_id}/form").status_code == 200
        assert time.monotonic() - started < 4 and poster.is_alive()
        conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    poster.join(15)
    assert result["status"] == 201
    assert _count(client, world.campaign_id) == 1
    # The client's retry of the same submission is recognised, not stored twice.
    again = client.post(f"/api/v1/campaigns/{world.campaign_id}/responses", json=body)
    assert again.status_code in (200, 201) and again.json()["id"] == result["id"]
    assert _count(client, world.campaign_id) == 1


def test_a_send_that_fails_is_reported_from_the_loop_not_from_within(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]

    class Broken:
        def __init__(self, pg: Any) -> None:
            self.socket = pg.socket

        def flush(self) -> int:
            raise OSError("connection lost")

    async def run() -> tuple[list[Any], list[Any]]:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("BEGIN")
            seen: list[Any] = []
            flight = InFlight(conn, Tail([("SELECT 1", None), ("COMMIT", None)]), seen.append)
            real = flight._pg
            flight._pg = Broken(real)
            flight.watch(asyncio.get_running_loop())
            during = list(seen)  # the writer's flush is still on the stack here
            await asyncio.sleep(0.05)
            flight._pg = real
            while real.get_result() is not None:  # leave the connection clean
                pass
            conn.rollback()
            return during, seen

    during, seen = asyncio.run(run())
    assert during == [] and len(seen) == 1 and isinstance(seen[0], OSError)
