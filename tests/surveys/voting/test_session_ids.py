"""A deleted draft's id is never handed to a later session (SQLite AUTOINCREMENT, PostgreSQL
sequence): the audit log and the printed seat cards keep naming the deleted one."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from service.audit import AuditEntry
from tests.surveys.voting.conftest import Electorate
from tests.surveys.voting.factories import create_projects, create_session, session_payload


def test_a_deleted_drafts_id_is_not_reused(
    client: TestClient, session: Session, admin: dict[str, str], deputies: Electorate
) -> None:
    payload = session_payload(create_projects(client, admin, [1_000_000]), deputies.names)
    first = create_session(client, admin, payload)
    newest = create_session(client, admin, payload)
    r = client.delete(f"/api/v1/voting-sessions/{newest}", headers=admin)
    assert r.status_code == 204, r.text

    again = create_session(client, admin, payload)
    assert again not in (first, newest) and again > newest
    assert client.get(f"/api/v1/voting-sessions/{newest}", headers=admin).status_code == 404
    named = session.exec(
        select(AuditEntry.action)
        .where(AuditEntry.target == str(newest))
        .order_by(col(AuditEntry.id))
    ).all()
    assert named == ["voting_session.create", "voting_session.delete"]
    named_again = session.exec(
        select(AuditEntry.action).where(AuditEntry.target == str(again))
    ).all()
    assert named_again == ["voting_session.create"]
