"""Every admin action, state change and export lands in the hash-chained audit log, and
`minyi audit verify` (the real CLI, in a subprocess) catches an edited or deleted entry."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.models import Role
from surveys.evaluation.config import DEFAULT_CONFIG
from tests.hardening.conftest import add_figure, backend_of
from tests.hardening.routes import iter_routes, required_roles
from tests.hardening.server import server_env
from tests.hardening.world import World, bearer_for, create_session, seed
from tests.surveys.evaluation.factories import campaign_body as evaluation_body
from tests.surveys.forms.factories import campaign_body, response_body, survey_body

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def _admin_writes(app: FastAPI) -> set[tuple[str, str]]:
    out = set()
    for r in iter_routes(app.routes):
        roles = required_roles(r)
        if r.path.startswith("/api/") and roles == frozenset({Role.admin}):
            out |= {(m, r.path) for m in r.methods & WRITES}
    return out


def _audit_rows(app: FastAPI) -> list[tuple[int, str, str]]:
    with app.state.engine.connect() as conn:
        return [
            (int(i), a, actor)
            for i, a, actor in conn.execute(
                text("SELECT id, action, actor FROM audit_log ORDER BY id")
            )
        ]


def _calls(
    world: World, spare: int, evaluation_id: int = 0
) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, route, concrete path, request kwargs), in an order where each one succeeds."""
    cid, sid = world.campaign_id, world.voting_session_id
    project = {
        "title": "审计项目",
        "category": "交通",
        "budget": 500_000,
        "sponsor_unit_code": "dept-civil",
    }
    return [
        (
            "POST",
            "/api/v1/users",
            "/api/v1/users",
            {"json": {"username": "h-new", "role": "evaluator", "password": "longenough1"}},
        ),
        (
            "PATCH",
            "/api/v1/users/{user_id}",
            f"/api/v1/users/{spare}",
            {"json": {"display_name": "改名"}},
        ),
        ("DELETE", "/api/v1/users/{user_id}", f"/api/v1/users/{spare}", {}),
        (
            "POST",
            "/api/v1/units",
            "/api/v1/units",
            {"json": {"code": "dept-audit", "name": "审计局", "kind": "department"}},
        ),
        (
            "PATCH",
            "/api/v1/units/{unit_id}",
            "/api/v1/units/1",
            {"json": {"name_en": "Renamed unit"}},
        ),
        (
            "POST",
            "/api/v1/units/import",
            "/api/v1/units/import?dry_run=false",
            {
                "files": {
                    "file": (
                        "u.csv",
                        b"code,name,kind\nimp-1,\xe7\x94\xb2,department\n",
                        "text/csv",
                    )
                }
            },
        ),
        ("POST", "/api/v1/surveys", "/api/v1/surveys", {"json": survey_body(title="第二版")}),
        (
            "PUT",
            "/api/v1/surveys/{survey_id}",
            "/api/v1/surveys/2",
            {"json": survey_body(title="第二版改")},
        ),
        ("POST", "/api/v1/campaigns", "/api/v1/campaigns", {"json": campaign_body(2)}),
        (
            "PATCH",
            "/api/v1/campaigns/{campaign_id}",
            f"/api/v1/campaigns/{cid}",
            {"json": {"title": "改题"}},
        ),
        (
            "POST",
            "/api/v1/campaigns/{campaign_id}/invitations",
            f"/api/v1/campaigns/{world.invitation_campaign_id}/invitations",
            {"json": {"count": 3}},
        ),
        (
            "PUT",
            "/api/v1/campaigns/{campaign_id}/evaluation",
            f"/api/v1/campaigns/{evaluation_id}/evaluation",
            {"json": {"evaluation": {**DEFAULT_CONFIG, "rules": []}}},
        ),
        (
            "POST",
            "/api/v1/surveys/import",
            "/api/v1/surveys/import",
            {"files": {"file": ("form.xlsx", _xlsform(), "application/octet-stream")}},
        ),
        (
            "POST",
            "/api/v1/campaigns/{campaign_id}/responses/import",
            f"/api/v1/campaigns/{cid}/responses/import",
            {"json": [response_body()]},
        ),
        (
            "POST",
            "/api/v1/proposals/{proposal_id}/review",
            "/api/v1/proposals/1/review",
            {"json": {"action": "reject", "note": "重复"}},
        ),
        (
            "POST",
            "/api/v1/proposals/{proposal_id}/shortlist",
            "/api/v1/proposals/1/shortlist",
            {"json": project},
        ),
        ("POST", "/api/v1/projects", "/api/v1/projects", {"json": project}),
        (
            "PATCH",
            "/api/v1/projects/{project_id}",
            f"/api/v1/projects/{world.project_ids[0]}",
            {"json": {"title_en": "Audited project"}},
        ),
        ("POST", "/api/v1/voting-sessions", "/api/v1/voting-sessions", {"json": None}),
        (
            "PATCH",
            "/api/v1/voting-sessions/{session_id}",
            "/api/v1/voting-sessions/2",
            {"json": {"title": "改名的票决"}},
        ),
        # The hall: an officer's sign-in and its undo, seat cards issued, revoked and reissued.
        *_hall_calls("/api/v1/voting-sessions/{session_id}", world.deputies[0]),
        ("POST", "/api/v1/voting-sessions/{session_id}/open", "/api/v1/voting-sessions/2/open", {}),
        # Session 2 is a mixed one: paper sheets beside the devices.
        *_paper_calls("/api/v1/voting-sessions/{session_id}/paper", world.deputies[0]),
        (
            "POST",
            "/api/v1/voting-sessions/{session_id}/close",
            f"/api/v1/voting-sessions/{sid}/close",
            {},
        ),
        (
            "POST",
            "/api/v1/voting-sessions/{session_id}/publish",
            f"/api/v1/voting-sessions/{sid}/publish",
            {},
        ),
        (
            "POST",
            "/api/v1/projects/{project_id}/updates",
            f"/api/v1/projects/{world.project_ids[0]}/updates",
            {"json": {"date": "2027-03-01", "percent_done": 20, "note": "开工"}},
        ),
        # A vote tied at its cut line is set up when its turn comes (_tied_session).
        ("POST", "/api/v1/voting-sessions/{session_id}/runoff", "", {}),
        # The run-off's draft, deleted (a draft can be).
        ("DELETE", "/api/v1/voting-sessions/{session_id}", "", {}),
    ]


def test_every_admin_action_state_change_and_export_is_audited(
    client: TestClient, app: FastAPI
) -> None:
    world = seed(client, app.state.engine)
    assert world.voting
    admin = world.tokens["admin"]
    spare = client.post(
        "/api/v1/users",
        json={"username": "h-spare", "role": "evaluator", "password": "longenough1"},
        headers=admin,
    ).json()["id"]
    assert (
        client.post("/api/v1/proposals", json={"title": "加装电梯", "category": "养老"}).status_code
        == 201
    )
    # Every deputy votes "for" everything, so the session selects projects (progress needs one).
    choices = {str(p): "for" for p in world.project_ids}
    for name in world.deputies:
        h = bearer_for(app.state.engine, name)
        r = client.post(
            f"/api/v1/voting-sessions/{world.voting_session_id}/ballots",
            json={"choices": choices},
            headers=h,
        )
        assert r.status_code == 201, r.text
    # A democratic evaluation that has not opened, so its configuration can still change.
    subject = client.post(
        "/api/v1/subjects", json={"kind": "team", "name": "审计班子"}, headers=admin
    ).json()["id"]
    body = evaluation_body([subject], opens_in=timedelta(days=1))
    evaluation = client.post("/api/v1/campaigns", json=body, headers=admin)
    assert evaluation.status_code == 201, evaluation.text
    calls = _calls(world, spare, evaluation.json()["id"])
    assert {(m, route) for m, route, _, _ in calls} == _admin_writes(app), (
        "an admin write route is not in this test: add it, with the audit entry it must leave"
    )
    checked = 0
    made: dict[str, int] = {}
    for method, route, path, kwargs in calls:
        if route == "/api/v1/voting-sessions" and method == "POST":
            kwargs = {"json": _session_body(world)}
        if route.endswith("/runoff"):
            path = f"/api/v1/voting-sessions/{_tied_session(app, client, admin, world)}/runoff"
        if method == "DELETE" and route == "/api/v1/voting-sessions/{session_id}":
            path = f"/api/v1/voting-sessions/{made['runoff']}"
        before = _audit_rows(app)
        r = client.request(method, path, headers=admin, **kwargs)
        if route.endswith("/runoff"):
            made["runoff"] = r.json()["id"]
        assert 200 <= r.status_code < 300, (method, path, r.status_code, r.text)
        after = _audit_rows(app)
        new = after[len(before) :]
        assert new, f"{method} {route} left no audit entry"
        assert all(actor == "h-admin" for _, _, actor in new), new
        checked += 1
    # Exports of data (CSV, XLSX, the report) are recorded with who took them.
    exports: list[tuple[str, dict[str, Any], str]] = [
        ("/api/v1/tables/comments", {"campaign_id": world.campaign_id, "format": "csv"}, "h-eval"),
        ("/api/v1/tables/ranking", {"campaign_id": world.campaign_id, "format": "xlsx"}, "h-eval"),
        (f"/api/v1/reports/{world.campaign_id}", {}, "h-eval"),
    ]
    if any(
        r.path == "/api/v1/campaigns/{campaign_id}/responses" and "GET" in r.methods
        for r in iter_routes(app.routes)
    ):
        # Raw responses are the admin's alone.
        for fmt in ("csv", "xlsx", "json"):
            path = f"/api/v1/campaigns/{world.campaign_id}/responses"
            exports.append((path, {"format": fmt}, "h-admin"))
    who = {"h-eval": world.tokens["evaluator"], "h-admin": admin}
    for path, params, actor in exports:
        before = _audit_rows(app)
        r = client.get(path, params=params, headers=who[actor])
        assert r.status_code == 200, (path, r.text[:300])
        new = _audit_rows(app)[len(before) :]
        assert new and all(a == actor for _, _, a in new), (path, new)
        checked += 1
    add_figure(
        "audit: routes checked for an audit entry", checked, backend_of(str(app.state.engine.url))
    )


def _tied_session(app: FastAPI, client: TestClient, admin: dict[str, str], world: World) -> int:
    """A closed vote whose two candidates tie for its one place, with run-offs for ties."""
    ids = []
    for i in (1, 2):
        project = {"title": f"同票项目{i}", "category": "交通", "budget": 100_000}
        r = client.post(
            "/api/v1/projects", json={**project, "sponsor_unit_code": "dept-civil"}, headers=admin
        )
        ids.append(r.json()["id"])
    voters = world.deputies[:2]
    body = {
        **(_session_body(world) | {"title": "同票票决", "ballot_method": "electronic"}),
        **{"project_ids": ids, "deputy_usernames": voters, "max_selected": 1, "on_tie": "runoff"},
    }
    sid = client.post("/api/v1/voting-sessions", json=body, headers=admin).json()["id"]
    assert client.post(f"/api/v1/voting-sessions/{sid}/open", headers=admin).status_code == 200
    for name in voters:
        r = client.post(
            f"/api/v1/voting-sessions/{sid}/ballots",
            json={"choices": {str(p): "for" for p in ids}},
            headers=bearer_for(app.state.engine, name),
        )
        assert r.status_code == 201, r.text
    assert client.post(f"/api/v1/voting-sessions/{sid}/close", headers=admin).status_code == 200
    return int(sid)


def _session_body(world: World) -> dict[str, Any]:
    return {
        "title": "第二次票决",
        "year": 2028,
        "project_ids": world.project_ids,
        "deputy_usernames": world.deputies,
        "budget_cap": 10_000_000,
        "threshold": "majority_of_all",
        "on_no_fit": "skip",
        "ballot_method": "mixed",
    }


def _hall_calls(route: str, deputy: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    path = route.replace("{session_id}", "2")
    return [
        ("POST", f"{route}/attendance", f"{path}/attendance", {"json": {"username": deputy}}),
        ("DELETE", f"{route}/attendance/{{username}}", f"{path}/attendance/{deputy}", {}),
        ("POST", f"{route}/seat-cards", f"{path}/seat-cards", {}),
        (
            "POST",
            f"{route}/seat-cards/{{username}}/revoke",
            f"{path}/seat-cards/{deputy}/revoke",
            {},
        ),
        ("POST", f"{route}/seat-cards/{{username}}", f"{path}/seat-cards/{deputy}", {}),
    ]


def _paper_calls(route: str, deputy: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Print two sheets, hand one to a deputy, enter it and the count (session 2, open)."""
    path = route.replace("{session_id}", "2")
    count = {"entry": "by_ballot", "collected": 1, "scrutineers": ["甲", "乙"]}
    return [
        ("POST", route + "/sheets", path + "/sheets", {"json": {"count": 2}}),
        ("POST", route + "/issue", path + "/issue", {"json": {"username": deputy}}),
        ("POST", route + "/ballots", path + "/ballots", {"json": {"serial": 1, "marks": {}}}),
        ("DELETE", route + "/ballots/{serial}", path + "/ballots/1", {}),
        ("POST", route + "/ballots", path + "/ballots", {"json": {"serial": 1, "marks": {}}}),
        ("PUT", route + "/count", path + "/count", {"json": count}),
    ]


def _verify(database_url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from service.cli import main; main()", "audit", "verify"],
        env=server_env(database_url, tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_audit_verify_cli_catches_an_edited_and_a_deleted_entry(
    client: TestClient,
    make_app: Callable[..., FastAPI],
    app: FastAPI,
    database_url: str,
    tmp_path: Path,
) -> None:
    world = seed(client, app.state.engine)
    create_session(client, world, title="再一次")
    engine = app.state.engine
    with engine.connect() as conn:
        n = int(conn.execute(text("SELECT count(*) FROM audit_log")).scalar() or 0)
    assert n >= 5
    ok = _verify(database_url, tmp_path)
    assert ok.returncode == 0 and f"{n} entries verified" in ok.stdout, ok.stdout + ok.stderr
    with engine.connect() as conn:
        head = conn.execute(text("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")).scalar()
    assert f"newest hash {head}" in ok.stdout, "the head hash is printed, to be kept elsewhere"
    # An insider edits what an entry says (the hash no longer matches).
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'someone-else' WHERE id = 3"))
    edited = _verify(database_url, tmp_path)
    assert edited.returncode == 1 and "entry 3" in edited.stderr and "edited" in edited.stderr
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'h-admin' WHERE id = 3"))
    assert _verify(database_url, tmp_path).returncode == 0
    # ... or deletes one (the next entry's link breaks).
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = 2"))
    deleted = _verify(database_url, tmp_path)
    assert (
        deleted.returncode == 1 and "entry 3" in deleted.stderr and "chain broken" in deleted.stderr
    )
    # Removing the newest entries leaves a valid chain; only the head hash written down
    # earlier tells (docs/security.md).
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id >= 2"))
    tail = _verify(database_url, tmp_path)
    assert tail.returncode == 0 and f"newest hash {head}" not in tail.stdout


def _xlsform() -> bytes:
    """A one-question XLSForm workbook, for the questionnaire import."""
    import io

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "survey"
    ws.append(["type", "name", "label::zh"])
    ws.append(["range", "attitude", "服务态度"])
    settings = wb.create_sheet("settings")
    settings.append(["form_title"])
    settings.append(["导入的问卷"])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
