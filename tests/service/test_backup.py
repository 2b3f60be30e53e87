"""A backup restored into an empty database equals the original, table by table."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from service import audit
from service.backup import backup, restore
from service.db import upgrade
from service.schema import load_all_models
from tests.factories import make_user


def _dump(engine: Engine) -> dict[str, list[tuple]]:
    out = {}
    with engine.connect() as conn:
        for table in load_all_models().sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
    return out


def _empty_target(database_url: str, tmp_path: Path) -> tuple[str, Engine | None]:
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored.db'}", None
    url = make_url(database_url)
    name = f"{url.database}_restore"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return url.set(database=name).render_as_string(hide_password=False), admin


def test_backup_then_restore_into_empty_database(app, database_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with Session(app.state.engine) as s:
        for i in range(3):
            make_user(s, "evaluator", f"user{i}")
        for i in range(4):
            audit.record(s, actor="admin", action="test.backup", target=str(i), note="备份测试")
        s.commit()
    file = tmp_path / "minyi.backup"
    backup(database_url, file)
    assert file.stat().st_size > 0
    target, admin = _empty_target(database_url, tmp_path)
    try:
        restore(target, file)
        restored = create_engine(target)
        try:
            assert _dump(restored) == _dump(app.state.engine)
            with Session(restored) as s:
                assert audit.verify(s).ok
        finally:
            restored.dispose()
        # A second restore into the now non-empty database is refused.
        import pytest

        from service.errors import AppError

        with pytest.raises(AppError):
            restore(target, file)
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(
                    text(f'DROP DATABASE IF EXISTS "{make_url(target).database}" WITH (FORCE)')
                )
            admin.dispose()


def test_restore_into_migrated_but_empty_database(app, database_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with Session(app.state.engine) as s:
        make_user(s, "admin", "keeper")
    file = tmp_path / "b.backup"
    backup(database_url, file)
    target, admin = _empty_target(database_url, tmp_path)
    try:
        upgrade(target)  # schema only, no rows: still counts as empty
        restore(target, file)
        restored = create_engine(target)
        assert _dump(restored)["user_account"] == _dump(app.state.engine)["user_account"]
        restored.dispose()
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(
                    text(f'DROP DATABASE IF EXISTS "{make_url(target).database}" WITH (FORCE)')
                )
            admin.dispose()
