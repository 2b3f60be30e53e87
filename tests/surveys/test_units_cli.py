"""`minyi units import`: a bad file or row is named, one line per field, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from sqlmodel import Session, col, select

from service.cli import main
from service.config import get_settings
from surveys.units.models import Unit


@pytest.fixture
def cli(app: FastAPI, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("MINYI_DATABASE_URL", database_url)
    monkeypatch.setenv("MINYI_SECRET_KEY", "cli-test-secret-0123456789abcdef")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def codes(app: FastAPI) -> list[str]:
    with Session(app.state.engine) as s:
        return list(s.exec(select(Unit.code).order_by(col(Unit.code))))


def test_missing_column_is_named_without_a_traceback(
    app: FastAPI, cli: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "units.csv"
    path.write_text("code,name\nst-1,东街\n", encoding="utf-8")
    r = cli.invoke(main, ["units", "import", str(path)])
    # A clean exit through click (SystemExit), not an exception escaping the command.
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.exception
    assert "error: file: missing column(s): kind" in r.output
    path.write_bytes(b"\xff\xfecode")
    r = cli.invoke(main, ["units", "import", str(path)])
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.exception
    assert "error: file: not UTF-8 text" in r.output
    assert codes(app) == []


def test_bad_row_is_named_then_a_good_file_imports(
    app: FastAPI, cli: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "units.csv"
    header = "code,name,name_en,kind,parent_code\n"
    path.write_text(header + "st-1,东街,,street,\nbad code,坏,,street,\n", encoding="utf-8")
    r = cli.invoke(main, ["units", "import", str(path)])
    assert r.exit_code == 1 and "error: row.3.code:" in r.output, r.output
    assert codes(app) == []
    path.write_text(header + "st-1,东街,East,street,\n", encoding="utf-8")
    r = cli.invoke(main, ["units", "import", str(path)])
    assert r.exit_code == 0 and "Imported 1 units." in r.output, r.output
    assert codes(app) == ["st-1"]
