"""The console's audit page in the test client: who may open it, filters by actor, action and
office-zone days with pages, the chain's verification (intact, and a tampered row found), the
CSV export, and a backup downloaded from the test's own database."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, col, select

from frontend.pages.admin.audit import PER_PAGE
from service import audit
from service.audit import AuditEntry
from service.backup import backup_file_name, discard, private_backup
from service.models import Role
from surveys.voting.models import Proposal, ProposalStatus
from surveys.voting.proposals import waiting_count
from tests.factories import make_user
from tests.frontend.test_admin_pages import as_user, field_errors


def _entries(session: Session, n: int, *, actor: str = "boss", action: str = "thing.do") -> None:
    for i in range(n):
        audit.record(session, actor=actor, action=action, target=f"t{i}")
    session.commit()


def _ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr id="entry-(\d+)"', html)]


def _at(session: Session, entry_id: int, when: datetime) -> None:
    """Move an entry in time (this breaks its hash; the filters do not care)."""
    entry = session.get(AuditEntry, entry_id)
    assert entry is not None
    entry.at = when
    session.add(entry)
    session.commit()


@pytest.mark.parametrize("role", [Role.evaluator, Role.deputy])
def test_only_admins_see_the_audit_page(
    app: FastAPI, client: TestClient, session: Session, role: Role
) -> None:
    r = client.get("/admin/audit", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fadmin%2Faudit")
    assert client.get("/admin/audit.csv", follow_redirects=False).status_code == 303
    user = make_user(session, role)
    csrf = as_user(app, client, user)
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/admin/audit.csv").status_code == 403
    for path in ("/admin/audit/verify", "/admin/audit/backup"):
        r = client.post(path, data={"csrf_token": csrf})
        assert r.status_code == 403 and "text/html" in r.headers["content-type"]


def test_list_filters_and_pages(app: FastAPI, client: TestClient, session: Session) -> None:
    admin = make_user(session, Role.admin, "boss")
    _entries(session, PER_PAGE + 5, actor="boss", action="unit.create")
    _entries(session, 3, actor="clerk", action="user.create")
    as_user(app, client, admin)

    r = client.get("/admin/audit")
    assert r.status_code == 200
    assert "审计日志" in r.text and 'aria-current="page" class="current">审计日志' in r.text
    ids = _ids(r.text)
    assert len(ids) == PER_PAGE and ids == sorted(ids, reverse=True)  # newest first
    assert "共 58 条记录" in r.text and "第 1 页，共 2 页" in r.text
    second = client.get("/admin/audit?page=2")
    assert len(_ids(second.text)) == 8 and set(_ids(second.text)).isdisjoint(ids)

    by_actor = client.get("/admin/audit?actor=clerk")
    assert len(_ids(by_actor.text)) == 3 and "共 3 条记录" in by_actor.text
    by_action = client.get("/admin/audit?action=unit.create&page=2")
    assert len(_ids(by_action.text)) == 5
    assert '<option value="user.create">' in r.text  # the action filter offers what the log holds
    en = client.get("/admin/audit?lang=en&actor=nobody")
    assert "No entries match." in en.text


def test_days_are_cut_in_the_office_zone(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    admin = make_user(session, Role.admin, "boss")
    _entries(session, 3, actor="clerk")
    first, second, third = session.exec(
        select(AuditEntry.id).where(AuditEntry.actor == "clerk").order_by(col(AuditEntry.id))
    ).all()
    # 2026-03-01 15:59 UTC is 23:59 on the 1st in Shanghai; 16:00 UTC is the 2nd there.
    _at(session, first, datetime(2026, 3, 1, 15, 59, tzinfo=UTC))
    _at(session, second, datetime(2026, 3, 1, 16, 0, tzinfo=UTC))
    _at(session, third, datetime(2026, 3, 3, 1, 0, tzinfo=UTC))
    as_user(app, client, admin)
    day1 = client.get("/admin/audit?actor=clerk&from=2026-03-01&to=2026-03-01")
    assert _ids(day1.text) == [first]
    assert "2026-03-01 23:59" in day1.text  # shown in the office's zone too
    day2 = client.get("/admin/audit?actor=clerk&from=2026-03-02")
    assert _ids(day2.text) == [third, second]
    upto2 = client.get("/admin/audit?actor=clerk&to=2026-03-02")
    assert _ids(upto2.text) == [second, first]


def test_bad_dates_are_named_beside_the_field(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    as_user(app, client, make_user(session, Role.admin, "boss"))
    r = client.get("/admin/audit?from=2026-13-01&actor=kept")
    assert r.status_code == 422
    assert field_errors(r.text) == {"from": "请输入有效日期（年-月-日）。"}
    assert 'aria-describedby="err-from"' in r.text and 'value="kept"' in r.text
    r = client.get("/admin/audit?from=2026-03-05&to=2026-03-01")
    assert r.status_code == 422 and set(field_errors(r.text)) == {"to"}
    assert client.get("/admin/audit.csv?to=nope").status_code == 422


def test_verify_reports_ok_then_the_tampered_entry(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    admin = make_user(session, Role.admin, "boss")
    _entries(session, 4)
    csrf = as_user(app, client, admin)
    # Without the CSRF token the button does nothing.
    assert client.post("/admin/audit/verify").status_code == 403

    r = client.post("/admin/audit/verify", data={"csrf_token": csrf})
    assert r.status_code == 200
    n = audit.verify(session).checked
    assert f"审计链完整：已核验 {n} 条记录。" in r.text
    assert audit.verify(session).head in r.text

    victim = session.exec(select(AuditEntry.id).order_by(col(AuditEntry.id)).offset(2)).first()
    session.execute(text("UPDATE audit_log SET target = 'forged' WHERE id = :id"), {"id": victim})
    session.commit()
    r = client.post("/admin/audit/verify?lang=en", data={"csrf_token": csrf})
    assert r.status_code == 409
    assert f"entry {victim} does not match its hash (edited)" in r.text
    assert audit.verify(session).broken_id == victim


def test_verify_finds_a_deleted_entry(app: FastAPI, client: TestClient, session: Session) -> None:
    admin = make_user(session, Role.admin, "boss")
    _entries(session, 4)
    ids = session.exec(select(AuditEntry.id).order_by(col(AuditEntry.id))).all()
    session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[1]})
    session.commit()
    csrf = as_user(app, client, admin)
    r = client.post("/admin/audit/verify", data={"csrf_token": csrf})
    assert r.status_code == 409
    assert f"审计链断裂：第 {ids[2]} 条记录之前有记录被删除或修改。" in r.text


def test_csv_export_of_the_filtered_entries_is_audited(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    admin = make_user(session, Role.admin, "boss")
    _entries(session, 2, actor="clerk", action="unit.create")
    audit.record(session, actor="clerk", action="unit.create", target="=HYPERLINK(1)", 名称="东区")
    _entries(session, 2, actor="boss", action="user.create")
    session.commit()
    as_user(app, client, admin)
    r = client.get("/admin/audit.csv?actor=clerk")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["cache-control"] == "no-store"
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert len(rows) == 3 and {row["actor"] for row in rows} == {"clerk"}
    assert rows[0]["target"] == "'=HYPERLINK(1)"  # a formula is never written as a formula
    assert "东区" in rows[0]["detail"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", rows[0]["at_local"])
    session.expire_all()
    last = session.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc())).first()
    assert last is not None and (last.actor, last.action) == ("boss", "audit.export")
    assert '"rows": 3' in last.detail and '"filter_actor": "clerk"' in last.detail
    assert audit.verify(session).ok


def test_backup_download_of_the_test_database(
    app: FastAPI, client: TestClient, session: Session, database_url: str, tmp_path: Path
) -> None:
    admin = make_user(session, Role.admin, "boss")
    make_user(session, Role.deputy, "dep.backup")
    csrf = as_user(app, client, admin)
    assert client.post("/admin/audit/backup").status_code == 403  # no CSRF token
    before = set(Path(tempfile.gettempdir()).glob("minyi-backup-*"))
    r = client.post("/admin/audit/backup", data={"csrf_token": csrf})
    assert r.status_code == 200
    # The copy is off the disk once it is sent (removed before streaming, read through a handle).
    assert set(Path(tempfile.gettempdir()).glob("minyi-backup-*")) <= before
    assert int(r.headers["content-length"]) == len(r.content)
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-type"] == "application/octet-stream"
    name = re.search(r'filename="([^"]+)"', r.headers["content-disposition"])
    assert name and name.group(1).startswith("minyi-backup-")
    session.expire_all()
    last = session.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc())).first()
    assert last is not None and (last.actor, last.action) == ("boss", "backup.download")
    assert last.target == name.group(1) and f'"size": {len(r.content)}' in last.detail
    if database_url.startswith("sqlite"):
        assert name.group(1).endswith(".sqlite3")
        copy = tmp_path / "copy.sqlite3"
        copy.write_bytes(r.content)
        with sqlite3.connect(copy) as db:
            found = db.execute("SELECT role FROM user_account WHERE username = 'dep.backup'")
            assert found.fetchone() == ("deputy",)
    else:
        assert name.group(1).endswith(".dump")
        assert r.content.startswith(b"PGDMP")  # pg_dump's custom archive
        dump = tmp_path / "copy.dump"
        dump.write_bytes(r.content)
        script = subprocess.run(
            ["pg_restore", "--data-only", "--table=user_account", "-f", "-", str(dump)],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        assert "dep.backup" in script


def test_private_backup_is_owner_only_and_discarded(database_url: str, app: FastAPI) -> None:
    path = private_backup(database_url)
    try:
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
    finally:
        discard(path)
    assert not path.exists() and not path.parent.exists()
    assert backup_file_name("sqlite:///x.db", "s").endswith(".sqlite3")


def test_overview_links_to_the_filtered_log_and_the_waiting_queue(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    admin = make_user(session, Role.admin, "boss")
    audit.record(session, actor="clerk", action="unit.create", target="东区")
    for i, status in enumerate(
        [ProposalStatus.pending, ProposalStatus.pending, ProposalStatus.open]
    ):
        session.add(Proposal(title=f"建议{i}", category="环境", status=status))
    session.commit()
    as_user(app, client, admin)
    html = client.get("/admin").text
    # The overview's waiting number is the moderation queue's own count.
    assert f'<strong class="big-number">{waiting_count(session)}</strong>' in html
    assert waiting_count(session) == 2
    assert 'href="/admin/proposals?state=pending"' in html
    assert 'href="/admin/audit?actor=clerk"' in html
    assert 'href="/admin/audit?action=unit.create"' in html
    queue = client.get("/admin/proposals?state=pending")
    assert queue.status_code == 200 and "建议0" in queue.text and "建议2" not in queue.text
