"""Backups keep their secrets: no password on a command line, dump files readable by the owner only."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from service.backup import backup, restore

PASSWORD = "s3cret-backup-pw"
FAKE_URL = f"postgresql+psycopg://minyi:{PASSWORD}@127.0.0.1:5432/minyi"

# A stand-in for pg_dump / pg_restore: records what it was given, writes a dump like the real one.
FAKE_TOOL = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open({record!r}, "a") as fh:
    fh.write(json.dumps({{"argv": sys.argv, "pgpassword": os.environ.get("PGPASSWORD")}}) + "\\n")
if "--file" in args:
    with open(args[args.index("--file") + 1], "w") as out:
        out.write("dump")
"""


@pytest.fixture
def fake_pg_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pg_dump and pg_restore on PATH that record their argv and PGPASSWORD."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "calls.jsonl"
    for name in ("pg_dump", "pg_restore"):
        tool = bin_dir / name
        tool.write_text(FAKE_TOOL.format(python=sys.executable, record=str(record)))
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("PGPASSWORD", raising=False)
    return record


def _calls(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_pg_dump_gets_the_password_by_environment_only(fake_pg_tools: Path, tmp_path: Path) -> None:
    target = tmp_path / "minyi.dump"
    old = os.umask(0o022)
    try:
        backup(FAKE_URL, target)
    finally:
        os.umask(old)
    (call,) = _calls(fake_pg_tools)
    argv = call["argv"]
    assert isinstance(argv, list) and argv[0].endswith("pg_dump")
    assert not any(PASSWORD in str(a) for a in argv), argv
    assert "postgresql://minyi@127.0.0.1:5432/minyi" in argv
    assert call["pgpassword"] == PASSWORD
    assert target.read_text() == "dump"
    assert _mode(target) == 0o600


def test_an_existing_dump_file_is_made_private(fake_pg_tools: Path, tmp_path: Path) -> None:
    target = tmp_path / "old.dump"
    target.write_text("an older dump")
    target.chmod(0o644)
    backup(FAKE_URL, target)
    assert _mode(target) == 0o600
    assert target.read_text() == "dump"


def test_pg_restore_gets_the_password_by_environment_only(
    fake_pg_tools: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in.dump"
    source.write_text("dump")
    restore(FAKE_URL, source, force=True)
    (call,) = _calls(fake_pg_tools)
    assert not any(PASSWORD in str(a) for a in call["argv"])
    assert call["pgpassword"] == PASSWORD


def test_a_url_without_password_sets_none(fake_pg_tools: Path, tmp_path: Path) -> None:
    backup("postgresql+psycopg://postgres@127.0.0.1:5432/minyi", tmp_path / "x.dump")
    (call,) = _calls(fake_pg_tools)
    assert call["pgpassword"] is None


def test_a_real_backup_file_is_0600(app: FastAPI, database_url: str, tmp_path: Path) -> None:
    """On each backend: SQLite's backup API and the real pg_dump both leave an owner-only file."""
    target = tmp_path / "real.backup"
    old = os.umask(0o022)
    try:
        backup(database_url, target)
    finally:
        os.umask(old)
    assert target.stat().st_size > 0
    assert _mode(target) == 0o600
