"""The surveys command line: XLSForm, imports, exports, invitations and the purge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.cli import main
from service.config import get_settings
from service.db import utcnow
from surveys.forms.models import AbuseMark, Campaign, Invitation, SurveyResponse
from tests.conftest import SECRETS, TEST_SECRET_KEY
from tests.surveys.forms.factories import create_campaign, response_body
from tests.surveys.forms.fixtures import World


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CliRunner]:
    monkeypatch.setenv("MINYI_DATABASE_URL", database_url)
    monkeypatch.setenv("MINYI_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("MINYI_SECRET_KEY_FILE", str(tmp_path / "secret"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_surveys_export_and_import(cli: CliRunner, world: World, tmp_path: Path) -> None:
    out = tmp_path / "form.xlsx"
    r = cli.invoke(main, ["surveys", "export", str(world.survey_id), str(out)])
    assert r.exit_code == 0, r.output
    r = cli.invoke(main, ["surveys", "import", str(out)])
    assert r.exit_code == 0, r.output
    assert "Imported questionnaire 2 (9 questions)" in r.output
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"nope")
    r = cli.invoke(main, ["surveys", "import", str(bad)])
    assert r.exit_code == 1 and "not an .xlsx workbook" in r.output


def test_responses_import_and_export(
    cli: CliRunner, world: World, session: Session, tmp_path: Path
) -> None:
    rows = [response_body() for _ in range(30)]
    file = tmp_path / "paper.json"
    file.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    r = cli.invoke(main, ["responses", "import", str(world.campaign_id), str(file)])
    assert r.exit_code == 0, r.output
    assert "Imported 30 responses." in r.output
    rows[3]["unit_code"] = "ghost"
    rows[5]["answers"] = {}
    file.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    other = world.campaign_id
    r = cli.invoke(main, ["responses", "import", str(other), str(file)])
    assert r.exit_code == 1
    assert "row.4.unit_code" in r.output and "row.6.answers.attitude" in r.output
    assert len(session.exec(select(SurveyResponse)).all()) == 30
    out = tmp_path / "out.csv"
    r = cli.invoke(
        main, ["responses", "export", str(world.campaign_id), "--format", "csv", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert len(out.read_text(encoding="utf-8-sig").splitlines()) == 31


def test_invitations_and_campaigns(
    cli: CliRunner, client: TestClient, world: World, session: Session
) -> None:
    cid = create_campaign(client, world.admin, world.survey_id, access="invitation")
    r = cli.invoke(main, ["invitations", "create", str(cid), "--count", "5"])
    assert r.exit_code == 0, r.output
    codes = r.output.split()
    SECRETS.update(codes)
    assert len(codes) == 5 and len(session.exec(select(Invitation)).all()) == 5
    r = cli.invoke(main, ["invitations", "create", str(world.campaign_id), "--count", "5"])
    assert r.exit_code == 1 and "open to everyone" in r.output
    r = cli.invoke(main, ["campaigns", "list"])
    assert r.exit_code == 0 and "2026年度评议" in r.output


def test_campaigns_purge(
    cli: CliRunner, client: TestClient, world: World, session: Session
) -> None:
    assert (
        client.post(
            f"/api/v1/campaigns/{world.campaign_id}/responses", json=response_body()
        ).status_code
        == 201
    )
    assert session.exec(select(AbuseMark)).first() is not None
    r = cli.invoke(main, ["campaigns", "purge"])
    assert "Nothing to purge" in r.output
    c = session.get(Campaign, world.campaign_id)
    assert c is not None
    c.closes_at = utcnow() - timedelta(minutes=1)
    session.add(c)
    session.commit()
    r = cli.invoke(main, ["campaigns", "purge"])
    assert r.exit_code == 0 and f"campaign(s) {world.campaign_id}" in r.output
    session.expire_all()
    assert session.exec(select(AbuseMark)).first() is None
    assert session.get(Campaign, world.campaign_id).purged_at is not None  # type: ignore[union-attr]
    assert len(session.exec(select(SurveyResponse)).all()) == 1
