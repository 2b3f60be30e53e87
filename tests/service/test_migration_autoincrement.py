"""Migration 0016 recreates voting_session and assessment_score with AUTOINCREMENT on SQLite:
rows, the tables that reference them and their cascades survive both ways, and the next
session id is above every id the audit log names (a draft deleted before the upgrade too)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlmodel import Session

from service.db import alembic_config, upgrade
from service.main import create_app
from service.models import Role
from tests.conftest import settings_for
from tests.factories import headers_for
from tests.surveys.voting.factories import (
    create_projects,
    create_session,
    make_deputies,
    make_units,
    session_payload,
)

CHILDREN = ("voting_session_project", "voting_session_deputy")


def _ddl(engine: Engine, table: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
                {"t": table},
            ).scalar()
        )


def _state(engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in CHILDREN}
        return {
            "ids": [r[0] for r in conn.execute(text("SELECT id FROM voting_session ORDER BY id"))],
            "counts": counts,
            "violations": conn.execute(text("PRAGMA foreign_key_check")).all(),
            "refs": sorted(
                r[2]
                for t in CHILDREN
                for r in conn.execute(text(f"PRAGMA foreign_key_list({t})"))
                if r[3] == "session_id"
            ),
        }


def test_upgrade_and_downgrade_keep_rows_and_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ids.db'}"
    upgrade(url)
    app = create_app(settings_for(url, tmp_path))
    with TestClient(app) as client, Session(app.state.engine) as s:
        make_units(s)
        admin = headers_for(client, s, Role.admin, "admin")
        names = [u.username for u in make_deputies(s, 3)]
        payload = session_payload(create_projects(client, admin, [1_000_000]), names)
        kept = [create_session(client, admin, payload) for _ in range(2)]
        deleted = create_session(client, admin, payload)
        assert client.delete(f"/api/v1/voting-sessions/{deleted}", headers=admin).status_code == 204
    app.state.engine.dispose()

    engine = create_engine(url)
    try:
        before = _state(engine)
        assert before["ids"] == kept and before["violations"] == []
        assert before["counts"] == {"voting_session_project": 2, "voting_session_deputy": 6}
        assert before["refs"] == ["voting_session", "voting_session"]
        assert "AUTOINCREMENT" in _ddl(engine, "voting_session")
        assert "AUTOINCREMENT" in _ddl(engine, "assessment_score")

        cfg = alembic_config(url)
        command.downgrade(cfg, "0015")
        assert _state(engine) == before
        assert "AUTOINCREMENT" not in _ddl(engine, "voting_session")
        assert "AUTOINCREMENT" not in _ddl(engine, "assessment_score")
        # Before 0016 SQLite would give the next session the deleted draft's id again; the
        # upgrade starts the sequence above every id the audit log names.
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM sqlite_sequence"))
        command.upgrade(cfg, "heads")
        assert _state(engine) == before
        assert "AUTOINCREMENT" in _ddl(engine, "voting_session")
        with engine.connect() as conn:
            seq = conn.execute(
                text("SELECT seq FROM sqlite_sequence WHERE name = 'voting_session'")
            ).scalar()
        assert seq == deleted
        command.check(cfg)
    finally:
        engine.dispose()

    app = create_app(settings_for(url, tmp_path))
    with TestClient(app) as client, Session(app.state.engine) as s:
        admin = headers_for(client, s, Role.admin, "admin2")
        new = create_session(client, admin, payload)
        assert new > deleted
        # The cascade from voting_session to its slate and electorate still works.
        assert client.delete(f"/api/v1/voting-sessions/{kept[0]}", headers=admin).status_code == 204
    app.state.engine.dispose()
    after = _state(engine)
    engine.dispose()
    assert after["ids"] == [kept[1], new] and after["violations"] == []
    assert after["counts"] == {"voting_session_project": 2, "voting_session_deputy": 6}
