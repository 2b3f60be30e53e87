"""Online, consistent backups: SQLite's backup API, pg_dump for PostgreSQL.

A dump holds every response, so it is created readable by its owner only (0600), and the
database password never appears on a command line (``ps`` shows argv to every local user):
pg_dump and pg_restore get it through ``PGPASSWORD`` in their environment.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL, make_url

from service.errors import AppError


class BackupError(AppError):
    status_code = 500


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _libpq_url(url: str) -> str:
    """The SQLAlchemy URL as libpq understands it (no +driver, no password)."""
    u = make_url(url)
    bare = URL.create("postgresql", u.username, None, u.host, u.port, u.database, u.query)
    return bare.render_as_string(hide_password=False)


def _pg_env(url: str) -> dict[str, str]:
    """The environment for a PostgreSQL tool: the caller's, plus the password if the URL has one."""
    env = dict(os.environ)
    password = make_url(url).password
    if password:
        env["PGPASSWORD"] = str(password)
    return env


def _private_file(target: Path) -> None:
    """Create (or truncate) target readable and writable by its owner only."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    os.chmod(target, 0o600)  # an existing file keeps its old mode through os.open


def pg_dump_command(url: str, target: Path) -> tuple[list[str], dict[str, str]]:
    """argv and environment of the pg_dump run (argv carries no password)."""
    argv = [
        _pg_tool("pg_dump"),
        "--format=custom",
        "--no-owner",
        "--no-privileges",
        "--file",
        str(target),
        _libpq_url(url),
    ]
    return argv, _pg_env(url)


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client)")
    return path


def backup(url: str, target: Path, progress: Callable[[int, int], object] | None = None) -> None:
    """Write a consistent copy of the database to target while it keeps serving."""
    target = Path(target)
    _private_file(target)
    if url.startswith("sqlite"):
        src = sqlite3.connect(str(_sqlite_path(url)))
        dst = sqlite3.connect(str(target))
        try:

            def _report(_status: int, remaining: int, total: int) -> None:
                if progress is not None:
                    progress(total - remaining, total)

            # Copies page by page; writers may continue, the copy is one consistent snapshot.
            src.backup(dst, pages=256, progress=_report)
        finally:
            dst.close()
            src.close()
        return
    # pg_dump runs in one repeatable-read snapshot: consistent without stopping the service.
    argv, env = pg_dump_command(url, target)
    subprocess.run(argv, env=env, check=True)


def backup_file_name(url: str, stamp: str) -> str:
    """The download's file name: SQLite's copy is a database file, pg_dump's a custom archive."""
    suffix = "sqlite3" if url.startswith("sqlite") else "dump"
    return f"minyi-backup-{stamp}.{suffix}"


def private_backup(url: str) -> Path:
    """A backup in a fresh directory only the service's user can enter (0700, the file 0600),
    for a download; the caller removes it with ``discard`` once it is sent."""
    folder = Path(tempfile.mkdtemp(prefix="minyi-backup-"))
    target = folder / "backup"
    try:
        backup(url, target)
    except BaseException:
        discard(target)
        raise
    return target


def discard(path: Path) -> None:
    """Remove a private backup and its directory (nothing of the dump stays on disk)."""
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass  # not the directory private_backup made, or not empty: leave it


def database_is_empty(url: str) -> bool:
    """True when the database has no tables, or only an empty schema."""
    engine = create_engine(url)
    try:
        names = inspect(engine).get_table_names()
        if not names:
            return True
        with engine.connect() as conn:
            from sqlalchemy import text

            for name in names:
                if name == "alembic_version":
                    continue
                if conn.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1')).first():
                    return False
        return True
    finally:
        engine.dispose()


def restore(url: str, source: Path, *, force: bool = False) -> None:
    """Restore a backup into the database at url, which must be empty unless force is set."""
    source = Path(source)
    if not source.exists():
        raise BackupError(f"{source} does not exist", status_code=400)
    if not force and not database_is_empty(url):
        raise BackupError(
            "the target database is not empty; restore into an empty one (or --force)",
            status_code=409,
        )
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
        src = sqlite3.connect(str(source))
        dst = sqlite3.connect(str(path))
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        return
    subprocess.run(
        [
            _pg_tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--dbname",
            _libpq_url(url),
            str(source),
        ],
        env=_pg_env(url),
        check=True,
    )
