"""SPSS and Stata exports: read back with pyreadstat, every cell equal to the CSV export's."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.audit import AuditEntry
from service.cli import main
from service.config import get_settings
from service.models import Role
from service.spreadsheet import neutralise
from surveys.forms import statfiles
from surveys.forms.exports import MEDIA
from surveys.forms.varnames import variable_names
from tests.conftest import TEST_SECRET_KEY
from tests.factories import headers_for
from tests.surveys.forms.factories import answers, create_campaign, create_survey, response_body
from tests.surveys.forms.fixtures import World

LONG = "办事大厅排队时间太长，希望增加窗口。" * 111  # 1,998 characters, 5,994 bytes: a strL
READERS = {"sav": pyreadstat.read_sav, "dta": pyreadstat.read_dta}


def _seed(client: TestClient, world: World) -> None:
    bodies = [
        response_body(
            comment="=SUM(A1) 公式",
            answers=answers(2, channel="online", online_issue=["slow", "login"]),
        ),
        response_body(unit_code="win-social", comment=None, area_code=None, profile=None),
        response_body(unit_code="dept-hrss", comment=LONG, answers=answers(1, visits=3)),
        response_body(unit_code="dept-hrss", answers=answers(5, recommend=0, channel="hall")),
    ]
    for b in bodies:
        r = client.post(f"/api/v1/campaigns/{world.campaign_id}/responses", json=b)
        assert r.status_code == 201, r.text


def _url(campaign_id: int, fmt: str) -> str:
    return f"/api/v1/campaigns/{campaign_id}/responses?format={fmt}"


def _read(content: bytes, fmt: str, tmp_path: Path) -> tuple[pd.DataFrame, Any]:
    path = tmp_path / f"export.{fmt}"
    path.write_bytes(content)
    return READERS[fmt](str(path))


def _as_csv(value: Any) -> str:
    """A cell of the SPSS/Stata file written the way the CSV export writes it."""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() else str(value)
    return str(neutralise(value))


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_values_labels_and_text_round_trip(
    client: TestClient, world: World, fmt: str, tmp_path: Path
) -> None:
    _seed(client, world)
    r = client.get(_url(world.campaign_id, fmt), headers=world.admin)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == MEDIA[fmt]
    assert (
        f'filename="campaign-{world.campaign_id}-responses.{fmt}"'
        in r.headers["content-disposition"]
    )
    df, meta = _read(r.content, fmt, tmp_path)
    if fmt == "dta":
        assert r.content.startswith(b"<stata_dta><header><release>118</release>")
    else:
        assert meta.file_encoding == "UTF-8"
    book = client.get(f"/api/v1/campaigns/{world.campaign_id}/codebook", headers=world.admin).json()
    name = {row["column"]: row[f"name_{fmt}"] for row in book}
    text = client.get(_url(world.campaign_id, "csv"), headers=world.admin).content
    rows = list(csv.DictReader(io.StringIO(text.decode("utf-8-sig"))))
    assert len(df) == len(rows) == 4
    assert list(df.columns) == [name[c] for c in rows[0]]
    got = {rec[name["response_id"]]: rec for rec in df.to_dict("records")}
    for row in rows:
        rec = got[row["response_id"]]
        for column, value in row.items():
            cell = rec[name[column]]
            if column == "flagged":
                assert value == str(bool(cell)), column
            elif column == "channel":
                codes = {"1": "hall", "2": "online"}  # the codebook's "codes"
                assert value == ("" if math.isnan(cell) else codes[_as_csv(cell)]), column
            else:
                assert value == _as_csv(cell), (column, value, cell)
    # Missing answers are system-missing; the long Chinese comment comes back whole.
    by_comment = {rec[name["comment"]]: rec for rec in got.values()}
    assert by_comment[LONG][name["visits"]] == 3
    assert math.isnan(by_comment[""][name["visits"]])
    assert by_comment[""][name["online_issue"]] == ""
    assert by_comment["=SUM(A1) 公式"][name["online_issue"]] == "login slow"
    assert {rec[name["unit_name"]] for rec in got.values()} == {"民政局", "社保窗口", "人社局"}
    # Variable labels are the questions in Chinese; value labels name the points and choices.
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels[name["attitude"]] == "服务态度" and labels[name["comment"]] == "意见和建议"
    assert labels[name["channel"]] == "办理渠道"
    values = meta.variable_value_labels
    assert values[name["attitude"]] == {
        1: "很不满意",
        2: "不满意",
        3: "一般",
        4: "满意",
        5: "非常满意",
    }
    assert values[name["recommend"]] == {0: "0 完全不可能", 10: "10 非常可能"}
    assert values[name["channel"]] == {1: "大厅", 2: "网上"}
    assert values[name["flagged"]] == {0: "否", 1: "是"}
    assert next(row for row in book if row["column"] == "channel")["codes"] == "1=hall; 2=online"


def test_names_valid_and_unique() -> None:
    keys = ["1st-q", "名字", "名字", "ALL", "_cons", "str12", "a" * 40, "a" * 40 + "x", "A" * 40]
    keys += ["q-1", "q_1", "attitude"]
    for fmt, limit in (("dta", 28), ("sav", 64)):
        names = variable_names(keys, fmt)
        assert names == variable_names(keys, fmt)  # deterministic
        assert len({n.lower() for n in names}) == len(names)
        for n in names:
            assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", n), n
            assert len(n.encode()) <= limit
        assert names[0] == "v1st_q" and names[1] == "v2" and names[2] == "v3"
        assert names[-1] == "attitude"
    dta = variable_names(keys, "dta")
    assert dta[3:6] == ["ALL", "cons", "v_str12"]
    assert dta[9:11] == ["q_1", "q_1_2"]
    assert dta[6:9] == ["a" * 28, "a" * 26 + "_2", "A" * 26 + "_3"]
    assert variable_names(keys, "sav")[3] == "v_ALL"


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_long_keys_truncated_in_the_file(
    client: TestClient, world: World, fmt: str, tmp_path: Path
) -> None:
    """Keys that differ only past the format's limit still get distinct, labelled variables."""
    long_a = "satisfaction_with_" + "x" * 46  # 64 characters, the longest key allowed
    long_b = long_a[:-1] + "y"
    questions = [
        {"key": k, "type": "rating", "label": f"问题{i}", "scale_min": 1, "scale_max": 5}
        for i, k in enumerate((long_a, long_b))
    ]
    sid = create_survey(client, world.admin, questions=questions)
    cid = create_campaign(client, world.admin, sid)
    body = response_body(answers={long_a: 2, long_b: 4})
    assert client.post(f"/api/v1/campaigns/{cid}/responses", json=body).status_code == 201
    r = client.get(_url(cid, fmt), headers=world.admin)
    assert r.status_code == 200, r.text
    df, meta = _read(r.content, fmt, tmp_path)
    a, b = variable_names([long_a, long_b], fmt)
    if fmt == "sav":  # 64 bytes: both keys fit whole
        assert (a, b) == (long_a, long_b)
    else:
        assert (a, b) == (long_a[:28], long_a[:26] + "_2")
    assert df[a].tolist() == [2] and df[b].tolist() == [4]
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels[a] == "问题0" and labels[b] == "问题1"
    assert meta.variable_value_labels[b][5] == "非常满意"


def test_roles_flagged_audit_and_row_limit(
    client: TestClient,
    session: Session,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _seed(client, world)
    ev = headers_for(client, session, Role.evaluator, "eva")
    for fmt in ("sav", "dta"):
        assert client.get(_url(world.campaign_id, fmt)).status_code == 401
        refused = client.get(_url(world.campaign_id, fmt), headers=ev)
        assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    # The flagged switch applies as in the other formats, and the export is audited.
    only = client.get(_url(world.campaign_id, "dta") + "&flagged=only", headers=world.admin)
    assert only.status_code == 200
    assert len(_read(only.content, "dta", tmp_path)[0]) == 0
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "responses.export")).one()
    assert json.loads(entry.detail) == {"flagged": "only", "format": "dta", "rows": 0}
    monkeypatch.setattr(statfiles, "MAX_ROWS", 3)
    r = client.get(_url(world.campaign_id, "dta"), headers=world.admin)
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["query", "format"] and "use csv" in detail["msg"]


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CliRunner]:
    monkeypatch.setenv("MINYI_DATABASE_URL", database_url)
    monkeypatch.setenv("MINYI_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("MINYI_SECRET_KEY_FILE", str(tmp_path / "secret"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_writes_both_formats(
    cli: CliRunner, client: TestClient, world: World, tmp_path: Path
) -> None:
    _seed(client, world)
    for fmt in ("sav", "dta"):
        out = tmp_path / f"out.{fmt}"
        args = ["responses", "export", str(world.campaign_id), "--format", fmt, "--out", str(out)]
        r = cli.invoke(main, args)
        assert r.exit_code == 0, r.output
        df, _meta = READERS[fmt](str(out))
        assert len(df) == 4 and LONG in df["comment"].tolist()


def test_admin_page_links_both_formats(client: TestClient, world: World) -> None:
    words = {
        "zh-CN": ("SPSS 数据（.sav）", "Stata 数据（.dta）"),
        "en": ("SPSS data (.sav)", "Stata data (.dta)"),
    }
    for lang, (sav, dta) in words.items():
        r = client.get(f"/admin/campaigns/{world.campaign_id}?lang={lang}", headers=world.admin)
        assert r.status_code == 200
        assert f'href="{_url(world.campaign_id, "sav")}">{sav}</a>' in r.text
        assert f'href="{_url(world.campaign_id, "dta")}">{dta}</a>' in r.text
