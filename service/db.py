"""Database layer: engines, the per-request session, shared column types, migrations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, Request
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

from service.errors import NotFound

# One naming convention for every constraint, so migrations are stable on both databases.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = SQLModel.metadata

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

M = TypeVar("M", bound=SQLModel)


def utcnow() -> datetime:
    """Timezone-aware now, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC; SQLite gives naive values back, so re-attach UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: a time zone is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# The longest a statement waits for a lock held elsewhere (SQLite's busy timeout, PostgreSQL's
# lock_timeout); past it the request answers 503 with Retry-After (service.errors) rather than
# hang. The response writer's slow path waits the same bound once, so no request waits on a
# lock for much more than this.
LOCK_WAIT_MS = 5000
# How long opening a PostgreSQL connection may take before the database counts as down.
CONNECT_TIMEOUT_S = 3


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys, a busy timeout and full fsync.

    Both databases wait at most LOCK_WAIT_MS for a lock. PostgreSQL connections are checked
    before use (pool_pre_ping), so after an outage the pool reconnects by itself.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": LOCK_WAIT_MS / 1000},
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={LOCK_WAIT_MS}")
            # FULL: an acknowledged commit survives power loss, not only a process crash.
            cur.execute("PRAGMA synchronous=FULL")
            # Deleted rows are overwritten, so a reshuffled ballot leaves no old copy behind.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # A request never queues long for a pooled connection either (503 past it).
    kwargs.setdefault("pool_timeout", LOCK_WAIT_MS / 1000)
    connect_args = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "options": f"-c lock_timeout={LOCK_WAIT_MS}",
    } | kwargs.pop("connect_args", {})
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def get_or_404(session: Session, model: type[M], ident: int, what: str) -> M:
    """The row of model with this primary key, or NotFound ("<what> not found")."""
    row = session.get(model, ident)
    if row is None:
        raise NotFound(f"{what} not found")
    return row


class _Keyed(Protocol):
    @property
    def id(self) -> int | None: ...


def stored_id(row: _Keyed) -> int:
    """The primary key of a row that was loaded or flushed (only a new, unflushed row has None)."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id yet: flush it first")
    return row.id


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; committed before the response is sent, rolled back on error."""
    with Session(request.app.state.engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# scope="function": the commit runs before the response, so a failed commit never answers 2xx.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_analytics_session(request: Request) -> Iterator[Session]:
    """A read-only session for analytics views: on the analytics database (a read replica) when
    MINYI_ANALYTICS_DATABASE_URL is set, else the main one. Never committed: its reads may lag
    the primary by the replica's delay, and every write (audit records) goes through SessionDep.
    """
    with Session(request.app.state.analytics_engine) as session:
        try:
            yield session
        finally:
            session.rollback()


AnalyticsSessionDep = Annotated[Session, Depends(get_analytics_session, scope="function")]


def alembic_config(url: str) -> Any:
    """An Alembic Config pointing at the packaged migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Apply migrations; on PostgreSQL an advisory lock keeps several workers from racing."""
    from alembic import command

    cfg = alembic_config(url)
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(4242001)"))
            try:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                conn.commit()
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(4242001)"))
                conn.commit()
        engine.dispose()
    else:
        command.upgrade(cfg, revision)
