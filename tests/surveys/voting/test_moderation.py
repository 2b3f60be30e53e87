"""Moderation of residents' proposals: a proposal waits for the office's approval before it
is public (unless the office switches that off); approve, reject with a reason, merge into a
proposal or a project, shortlist; every decision audited; old proposals stay public through
the migration."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlmodel import Session, col, select

from service.audit import AuditEntry
from service.db import alembic_config, upgrade
from service.main import create_app
from service.models import Role
from tests.conftest import settings_for
from tests.factories import headers_for
from tests.surveys.voting.factories import create_projects, make_units

PROPOSAL = {"title": "小区加装电梯", "category": "养老", "area_code": "jianshe"}


def _propose(client: TestClient, title: str = "小区加装电梯") -> int:
    r = client.post("/api/v1/proposals", json=PROPOSAL | {"title": title})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _review(client: TestClient, pid: int, headers: dict[str, str], **body: object) -> int:
    return client.post(f"/api/v1/proposals/{pid}/review", json=body, headers=headers).status_code


def _public_ids(client: TestClient, status: str | None = None) -> list[int]:
    # No headers: the public's view (the admin's token travels only in its headers).
    params = {"status": status} if status else {}
    return [p["id"] for p in client.get("/api/v1/proposals", params=params).json()]


def _audit(session: Session, action: str) -> list[AuditEntry]:
    session.expire_all()
    q = select(AuditEntry).where(AuditEntry.action == action).order_by(col(AuditEntry.id))
    return list(session.exec(q))


def test_a_new_proposal_waits_and_is_public_only_once_approved(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    r = client.post("/api/v1/proposals", json=PROPOSAL)
    assert r.status_code == 201 and r.json()["status"] == "pending"
    pid = r.json()["id"]
    assert _public_ids(client) == [] and _public_ids(client, "pending") == []
    assert client.post(f"/api/v1/proposals/{pid}/support").status_code == 409  # not public
    # The admin sees the queue through the same list.
    queue = client.get("/api/v1/proposals?status=pending", headers=admin).json()
    assert [p["id"] for p in queue] == [pid]

    assert _review(client, pid, admin, action="approve", note="符合要求") == 200
    assert _public_ids(client) == [pid] and _public_ids(client, "open") == [pid]
    assert client.post(f"/api/v1/proposals/{pid}/support").status_code == 201
    assert _review(client, pid, admin, action="approve") == 409  # already approved
    (entry,) = _audit(session, "proposal.approve")
    assert entry.actor == "admin" and entry.target == str(pid)
    assert {"from": "pending", "note": "符合要求"}.items() <= json.loads(entry.detail).items()


def test_reject_with_a_reason_hides_it_and_can_be_undone(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    pid = _propose(client)
    assert _review(client, pid, admin, action="reject", note="不属于民生实事范围") == 200
    assert _public_ids(client) == [] and _public_ids(client, "rejected") == []
    listed = client.get("/api/v1/proposals?status=rejected", headers=admin).json()
    assert [p["id"] for p in listed] == [pid]
    assert _review(client, pid, admin, action="reject") == 409
    (entry,) = _audit(session, "proposal.reject")
    assert json.loads(entry.detail)["note"] == "不属于民生实事范围"
    # A rejection can be reconsidered: approving it publishes it.
    assert _review(client, pid, admin, action="approve") == 200
    assert _public_ids(client) == [pid]
    # An approved proposal can still be rejected later; it leaves the public list.
    assert _review(client, pid, admin, action="reject") == 200
    assert _public_ids(client) == []


def test_review_needs_an_admin_an_existing_proposal_and_a_valid_body(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    pid = _propose(client)
    assert (
        client.post(f"/api/v1/proposals/{pid}/review", json={"action": "approve"}).status_code
        == 401
    )
    evaluator = headers_for(client, session, Role.evaluator, "eva")
    deputy = headers_for(client, session, Role.deputy, "dep")
    assert _review(client, pid, evaluator, action="approve") == 403
    assert _review(client, pid, deputy, action="approve") == 403
    assert _review(client, 999, admin, action="approve") == 404
    assert _review(client, pid, admin, action="publish") == 422
    assert _review(client, pid, admin, action="reject", note="x" * 501) == 422
    assert _review(client, pid, admin, action="merge") == 422  # no target
    assert _review(client, pid, admin, action="merge", merge_into=pid) == 422  # itself
    assert _review(client, pid, admin, action="merge", merge_into_project=999) == 422
    assert _review(client, pid, admin, action="merge", merge_into=1, merge_into_project=1) == 422
    assert _review(client, pid, admin, action="reopen") == 409  # nothing to reopen
    # Refused attempts change nothing and leave no audit entry.
    assert _audit(session, "proposal.approve") == [] and _audit(session, "proposal.merge") == []
    assert client.get("/api/v1/proposals", headers=admin).json()[0]["status"] == "pending"


def test_merge_into_a_proposal_or_a_project_and_shortlist(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    a, b, c, d = (_propose(client, t) for t in ("加装电梯", "电梯（重复）", "老年食堂", "路灯"))
    assert _review(client, a, admin, action="approve") == 200
    # A waiting duplicate merges into the approved proposal.
    assert _review(client, b, admin, action="merge", merge_into=a, note="重复") == 200
    [project_id] = create_projects(client, admin, [1_000_000])
    assert _review(client, c, admin, action="merge", merge_into_project=project_id) == 200
    everything = {p["id"]: p for p in client.get("/api/v1/proposals", headers=admin).json()}
    assert everything[b]["status"] == "merged" and everything[b]["merged_into_id"] == a
    assert everything[c]["status"] == "merged" and everything[c]["project_id"] == project_id
    details = [json.loads(e.detail) for e in _audit(session, "proposal.merge")]
    assert details == [
        {"from": "pending", "merge_into": a, "note": "重复"},
        {"from": "pending", "merge_into_project": project_id, "note": ""},
    ]
    # Merged proposals are public (they point to where the idea went).
    assert set(_public_ids(client)) == {a, b, c}
    body = {"action": "shortlist", "budget": 500_000, "sponsor_unit_code": "civil"}
    assert _review(client, d, admin, **body) == 200
    assert _review(client, d, admin, action="reject") == 409  # already a project
    assert set(_public_ids(client)) == {a, b, c, d}
    assert len(_audit(session, "proposal.shortlist")) == 1


def test_with_approval_switched_off_proposals_are_public_at_once(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(proposals_need_approval=False)
    with TestClient(app) as client, Session(app.state.engine) as s:
        make_units(s)
        r = client.post("/api/v1/proposals", json=PROPOSAL)
        assert r.status_code == 201 and r.json()["status"] == "open"
        assert _public_ids(client) == [r.json()["id"]]
        assert client.post(f"/api/v1/proposals/{r.json()['id']}/support").status_code == 201


def test_switching_approval_off_shows_those_still_waiting(
    make_app: Callable[..., FastAPI],
) -> None:
    strict = make_app()
    with TestClient(strict) as client, Session(strict.state.engine) as s:
        make_units(s)
        pid = _propose(client)
        assert _public_ids(client) == []
    relaxed = make_app(proposals_need_approval=False)
    with TestClient(relaxed) as client:
        assert _public_ids(client) == [pid] and _public_ids(client, "pending") == [pid]


def test_the_setting_defaults_to_approval(tmp_path: Path) -> None:
    assert settings_for("sqlite://", tmp_path).proposals_need_approval is True


def test_migration_keeps_the_proposals_that_were_public(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0006")
    engine = create_engine(url)
    with engine.begin() as conn:
        for title, state in (
            ("旧的建议", "open"),
            ("旧的项目建议", "shortlisted"),
            ("旧的不通过", "rejected"),
        ):
            conn.execute(
                text(
                    "INSERT INTO voting_proposal (title, description, category, status,"
                    " support_count, review_note, created_at)"
                    " VALUES (:t, '', '养老', :s, 3, '', '2026-11-01 08:00:00.000000')"
                ),
                {"t": title, "s": state},
            )
    engine.dispose()
    upgrade(url)
    app = create_app(settings_for(url, tmp_path))
    with TestClient(app) as client:
        listed = client.get("/api/v1/proposals").json()
    app.state.engine.dispose()
    assert {p["title"]: p["status"] for p in listed} == {
        "旧的建议": "open",
        "旧的项目建议": "shortlisted",
    }
    # Downgrading never publishes a proposal that was still waiting: it is rejected.
    with engine.begin() as conn:
        conn.execute(text("UPDATE voting_proposal SET status = 'pending' WHERE id = 1"))
    command.downgrade(alembic_config(url), "0006")
    with engine.begin() as conn:
        states = conn.execute(text("SELECT status FROM voting_proposal ORDER BY id")).scalars()
        assert list(states) == ["rejected", "shortlisted", "rejected"]
    engine.dispose()


@pytest.mark.parametrize("need", [True, False])
def test_public_states(need: bool) -> None:
    from surveys.voting.models import ProposalStatus
    from surveys.voting.proposals import public_statuses

    shown = public_statuses(need_approval=need)
    assert ProposalStatus.rejected not in shown
    assert (ProposalStatus.pending in shown) is not need
