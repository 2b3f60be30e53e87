"""Hostile input on every public form and endpoint: a clear 4xx and the data as it was, or,
for legitimate text, stored exactly and escaped wherever it is shown or exported."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session

from surveys.forms.models import SurveyResponse
from tests.hardening import hostile
from tests.hardening.conftest import add_figure, backend_of
from tests.hardening.routes import iter_routes
from tests.hardening.world import (
    World,
    bearer_for,
    counts,
    create_session,
    new_response,
    seed,
)
from tests.surveys.forms.factories import stored_id


class Attacker:
    def __init__(self, client: TestClient, engine: Engine) -> None:
        self.client = client
        self.engine = engine
        self.tried = 0
        self.failures: list[str] = []

    def send(
        self,
        target: str,
        method: str,
        path: str,
        attacks: list[tuple[str, dict[str, Any], set[int]]],
        headers: dict[str, str] | None = None,
        check: Callable[[str, Any], None] | None = None,
    ) -> None:
        for name, kwargs, expected in attacks:
            kw = dict(kwargs)
            kw["headers"] = {**(headers or {}), **kw.get("headers", {})}
            before = counts(self.engine)
            r = self.client.request(method, path, **kw)
            after = counts(self.engine)
            self.tried += 1
            label = f"{target}: {name}"
            if r.status_code not in expected:
                self.failures.append(f"{label}: {r.status_code} {r.text[:300]}")
            changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
            if changed:
                self.failures.append(f"{label}: data changed {changed}")
            if check is not None:
                check(label, r)


def _page_csrf(client: TestClient) -> str:
    page = client.get("/login")
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert m, "the login form carries a CSRF token"
    return m.group(1)


def _route_exists(app: FastAPI, method: str, path: str) -> bool:
    return any(r.path == path and method in r.methods for r in iter_routes(app.routes))


@pytest.fixture
def hostile_app(make_app: Callable[..., FastAPI]) -> FastAPI:
    # No comment-scoring job: it writes sentiment rows on its own schedule, and this test
    # compares the data before and after each hostile request.
    return make_app(max_body_bytes=hostile.LIMIT, comment_scoring_interval=0)


@pytest.mark.slow
def test_hostile_bodies_get_a_clear_4xx_and_change_nothing(
    hostile_app: FastAPI, database_url: str
) -> None:
    engine = hostile_app.state.engine
    with TestClient(hostile_app) as client:
        world = seed(client, engine)
        a = Attacker(client, engine)
        cid = world.campaign_id
        a.send(
            "survey response",
            "POST",
            f"/api/v1/campaigns/{cid}/responses",
            hostile.response_attacks(world.invitation_campaign_id),
        )
        inv = world.invitation_campaign_id
        a.send(
            "invitation survey",
            "POST",
            f"/api/v1/campaigns/{inv}/responses",
            [
                ("no invitation code", {"json": new_response()}, {422}),
                ("made-up code", {"json": new_response(invitation_code="AAAA-BBBB-CCCC")}, {422}),
                ("code of 64 NULs", {"json": new_response(invitation_code="\x00" * 64)}, {422}),
            ],
        )
        if _route_exists(hostile_app, "POST", "/s/{campaign_id}"):
            a.send("survey page (no-JS form)", "POST", f"/s/{cid}", _form_attacks())
        if world.voting:
            a.send("proposal", "POST", "/api/v1/proposals", hostile.proposal_attacks())
            a.send(
                "support",
                "POST",
                "/api/v1/proposals/999999/support",
                [("unknown proposal", {}, {404}), ("id beyond 64 bits", {}, {404})],
            )
            a.send(
                "support",
                "POST",
                "/api/v1/proposals/" + "9" * 30 + "/support",
                [("id beyond 64 bits", {}, {404, 422})],
            )
            a.send(
                "ballot",
                "POST",
                f"/api/v1/voting-sessions/{world.voting_session_id}/ballots",
                hostile.ballot_attacks(world.project_ids),
                headers=world.tokens["deputy"],
            )
        a.send("token login", "POST", "/api/v1/auth/token", hostile.login_attacks())

        def escaped(label: str, r: Any) -> None:
            if any(m in r.text for m in hostile.XSS_MARKERS):
                a.failures.append(f"{label}: the login page echoes markup unescaped")

        login_form = [
            ("markup in username", {"username": hostile.XSS, "password": "x"}, {401}),
            ("NUL in username", {"username": "a\x00b", "password": "x" * 8}, {401, 422}),
            ("username over 64", {"username": "u" * 65, "password": "x"}, {422}),
        ]
        for name, data, expected in login_form:
            # Each attempt with a fresh double-submit token, as a browser would have.
            form = {"data": {**data, "csrf_token": _page_csrf(client)}}
            a.send("login page", "POST", "/login", [(name, form, expected)], check=escaped)
        a.send(
            "login page",
            "POST",
            "/login",
            [("no CSRF token", {"data": {"username": "h-admin", "password": "x"}}, {403})],
        )
        for name, path, kwargs, expected in hostile.naive_timestamp_attacks(world.survey_id):
            a.send("admin", "POST", path, [(name, kwargs, expected)], headers=world.tokens["admin"])
        a.send(
            "admin",
            "PATCH",
            f"/api/v1/campaigns/{cid}",
            [("window without time zone", {"json": {"closes_at": "2030-01-01T00:00:00"}}, {422})],
            headers=world.tokens["admin"],
        )
    add_figure("hostile: inputs tried", a.tried, backend_of(database_url))
    assert not a.failures, "\n".join(a.failures)


def _form_attacks() -> list[tuple[str, dict[str, Any], set[int]]]:
    form = "application/x-www-form-urlencoded"
    base = {"unit_code": "dept-civil", "attitude": "4", "efficiency": "4", "transparency": "4"}
    base |= {"integrity": "4", "results": "4", "submission_id": "form-attack-0001"}
    refused = {400, 403, 413, 422}
    return [
        (
            "oversized body",
            hostile.body_bytes(b"comment=" + b"x" * (hostile.LIMIT + 10), form),
            {413},
        ),
        (
            "invalid UTF-8",
            hostile.body_bytes(b"unit_code=dept-civil&comment=\xff\xfe", form),
            refused,
        ),
        ("10,000-character comment", {"data": {**base, "comment": "评" * 10_000}}, refused),
        ("NUL in comment", {"data": {**base, "comment": "a\x00b"}}, refused),
        ("rating above the scale", {"data": {**base, "attitude": "6"}}, refused),
        ("non-integer rating", {"data": {**base, "attitude": "2.5"}}, refused),
        # The page may answer with its unit chooser instead: nothing is stored either way.
        ("unknown unit", {"data": {**base, "unit_code": "nope"}}, refused | {200}),
    ]


def test_legitimate_odd_text_is_stored_exactly(
    client: TestClient, app: FastAPI, world: World
) -> None:
    cid = world.campaign_id
    for name, text in hostile.SAFE_TEXTS.items():
        r = client.post(f"/api/v1/campaigns/{cid}/responses", json=new_response(comment=text))
        assert r.status_code == 201, (name, r.text)
        with Session(app.state.engine) as s:
            stored = s.get(SurveyResponse, stored_id(client, r.json()["id"]))
            assert stored is not None and stored.comment == text, name
        if world.voting:
            r = client.post("/api/v1/proposals", json={"title": text + "项目", "category": "环境"})
            assert r.status_code == 201, (name, r.text)
            assert r.json()["title"] == text + "项目"


def _fill(path: str, ids: dict[str, int]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: str(ids.get(m.group(1), 1)), path)


def _publish_hostile_session(client: TestClient, app: FastAPI, world: World) -> int:
    admin = world.tokens["admin"]
    sid = create_session(client, world, title=hostile.XSS + "票决")
    assert client.post(f"/api/v1/voting-sessions/{sid}/open", headers=admin).status_code == 200
    choices = {str(p): "for" for p in world.project_ids}
    for name in world.deputies:
        h = bearer_for(app.state.engine, name)
        r = client.post(
            f"/api/v1/voting-sessions/{sid}/ballots", json={"choices": choices}, headers=h
        )
        assert r.status_code == 201, r.text
    for step in ("close", "publish"):
        assert (
            client.post(f"/api/v1/voting-sessions/{sid}/{step}", headers=admin).status_code == 200
        )
    return sid


@pytest.mark.slow
def test_markup_and_formulas_are_neutralised_on_pages_reports_and_exports(
    client: TestClient, app: FastAPI
) -> None:
    world = seed(client, app.state.engine, responses=0, label=hostile.XSS)
    admin = world.tokens["admin"]
    cid = world.campaign_id
    # One unit with enough respondents that its comments are shown (a second unit of only a
    # few unflagged respondents would lean on its block and hide both: disclosure control).
    texts = [hostile.XSS, *hostile.FORMULAS, hostile.XSS + " again", "<b>bold</b>"]
    for unit in ("dept-civil",):
        for text in texts:
            r = client.post(
                f"/api/v1/campaigns/{cid}/responses",
                json=new_response(unit_code=unit, comment=text),
            )
            assert r.status_code == 201, r.text
    ids: dict[str, int] = {"campaign_id": cid, "survey_id": world.survey_id}
    if world.voting:
        client.post("/api/v1/proposals", json={"title": hostile.XSS, "category": "环境"})
        ids["session_id"] = _publish_hostile_session(client, app, world)
        ids["project_id"] = world.project_ids[0]
        ids["proposal_id"] = 1
    cookie = bearer_for(app.state.engine, "h-admin")["Authorization"].split()[1]
    failures: list[str] = []
    pages = 0
    for route in iter_routes(app.routes):
        if "GET" not in route.methods or route.path.startswith(("/api/", "/static", "/openapi")):
            continue
        path = _fill(route.path, ids)
        for who, cookies in (("anonymous", {}), ("admin", {"minyi_session": cookie})):
            client.cookies.clear()
            for k, v in cookies.items():
                client.cookies.set(k, v)
            r = client.get(path, params={"lang": "en"})
            pages += 1
            if r.status_code >= 500:
                failures.append(f"{path} as {who}: {r.status_code}")
            if any(m in r.text for m in hostile.XSS_MARKERS):
                failures.append(f"{path} as {who}: markup shown unescaped")
    client.cookies.clear()
    report = client.get(f"/api/v1/reports/{cid}", headers=admin)
    assert report.status_code == 200
    assert "&lt;script&gt;" in report.text or "\\u003cscript" in report.text, (
        "the report shows the comments"
    )
    if any(m in report.text for m in hostile.XSS_MARKERS):
        failures.append("report: markup unescaped")
    exports = [("/api/v1/tables/comments", {"campaign_id": cid})]
    if _route_exists(app, "GET", "/api/v1/campaigns/{campaign_id}/responses"):
        exports.append((f"/api/v1/campaigns/{cid}/responses", {}))
    for path, params in exports:
        failures += _check_exports(client, path, params, admin)
    add_figure("hostile: pages checked for escaping", pages, backend_of(str(app.state.engine.url)))
    assert not failures, "\n".join(failures)


def _formula(text: str) -> bool:
    """Text a spreadsheet would run: starts with = + - @ (a plain negative number is fine)."""
    if not text or text[0] not in "=+-@\t\r":
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False


def _check_exports(
    client: TestClient, path: str, params: dict[str, Any], headers: dict[str, str]
) -> list[str]:
    """CSV and XLSX cells never start a formula; the comments are in the export at all."""
    out = []
    r = client.get(path, params={**params, "format": "csv"}, headers=headers)
    assert r.status_code == 200, (path, r.text[:300])
    cells = [c for row in csv.reader(io.StringIO(r.content.decode("utf-8-sig"))) for c in row]
    if not any("HYPERLINK" in c for c in cells):
        out.append(f"{path} csv: the formula comment is missing, cannot check neutralising")
    out += [f"{path} csv: live formula {c!r}" for c in cells if _formula(c)]
    r = client.get(path, params={**params, "format": "xlsx"}, headers=headers)
    assert r.status_code == 200, (path, r.text[:300])
    wb = load_workbook(io.BytesIO(r.content))
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "f" or (isinstance(c.value, str) and _formula(c.value)):
                    out.append(f"{path} xlsx: live formula {c.value!r}")
    return out
