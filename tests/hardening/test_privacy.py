"""Privacy regression: small groups never revealed (directly or by subtraction) by any
analytics endpoint, figure or export; ballots never linkable to deputies in any table."""

from __future__ import annotations

import itertools
import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from surveys.voting.ballots import receipt_hash
from tests.hardening.conftest import add_figure, backend_of
from tests.hardening.world import bearer_for, create_session, seed

BALLOT_TABLES = ("voting_ballot", "voting_ballot_mark")
LINKING_NAME = re.compile(r"user|deputy|voter|_at$|time|created|(^|_)ip(_|$)|client|device", re.I)


def test_ballot_tables_have_no_column_that_could_name_a_deputy(app: FastAPI) -> None:
    insp = inspect(app.state.engine)
    for table in BALLOT_TABLES:
        columns = [c["name"] for c in insp.get_columns(table)]
        assert not [c for c in columns if LINKING_NAME.search(c)], (table, columns)
        for fk in insp.get_foreign_keys(table):
            assert fk["referred_table"] not in ("user_account", "voting_voter", "auth_token"), fk
    # The record that a deputy voted holds no ballot reference and no time.
    voter = [c["name"] for c in insp.get_columns("voting_voter")]
    assert set(voter) == {"session_id", "user_id"}, voter


def _physical_order(conn: Any, table: str, column: str, where: str) -> list[str]:
    """Rows in storage order: SQLite's rowid, PostgreSQL's ctid (what an insider could read)."""
    order = "rowid" if conn.dialect.name == "sqlite" else "ctid"
    rows = conn.execute(text(f"SELECT {column} FROM {table} WHERE {where} ORDER BY {order}"))
    return [str(r[0]) for r in rows]


def test_ballots_cannot_be_linked_to_deputies_by_order_ids_or_transactions(
    client: TestClient, app: FastAPI
) -> None:
    """Deputies vote in a known order with unique ballots; after closing, nothing in storage
    order, ids or PostgreSQL transaction ids lines the ballots up with the voter records."""
    world = seed(client, app.state.engine, responses=0, deputies=16)
    admin = world.tokens["admin"]
    projects = world.project_ids
    sid = create_session(client, world, title="顺序测试")
    assert client.post(f"/api/v1/voting-sessions/{sid}/open", headers=admin).status_code == 200
    # 3 projects x 3 marks = 27 patterns: each deputy casts a different ballot.
    patterns = list(itertools.product(("for", "against", "abstain"), repeat=len(projects)))
    cast_order: list[str] = []  # receipt hashes in the order the deputies voted
    for name, pattern in zip(world.deputies, patterns, strict=False):
        h = bearer_for(app.state.engine, name)
        choices = {str(p): m for p, m in zip(projects, pattern, strict=True)}
        r = client.post(
            f"/api/v1/voting-sessions/{sid}/ballots", json={"choices": choices}, headers=h
        )
        assert r.status_code == 201, r.text
        cast_order.append(receipt_hash(r.json()["receipt"]))
    assert client.post(f"/api/v1/voting-sessions/{sid}/close", headers=admin).status_code == 200
    n = len(cast_order)
    with app.state.engine.connect() as conn:
        by_storage = _physical_order(conn, "voting_ballot", "receipt_hash", f"session_id = {sid}")
        ids = {
            h: i
            for i, h in conn.execute(
                text("SELECT id, receipt_hash FROM voting_ballot WHERE session_id = :s"), {"s": sid}
            )
        }
        by_id = sorted(cast_order, key=lambda h: ids[h])
        assert sorted(by_storage) == sorted(cast_order)
        # Storage order and id order must not replay the voting order (1/16! by chance).
        assert by_storage != cast_order, "ballots are stored in the order deputies voted"
        assert by_id != cast_order, "ballot ids follow the order deputies voted"
        # Positions agree no more than chance would have them agree.
        same = sum(a == b for a, b in zip(by_storage, cast_order, strict=True))
        assert same <= n // 2, f"{same} of {n} ballots sit where the voting order puts them"
        if conn.dialect.name == "postgresql":
            # A ballot written in the deputy's own transaction shares its xmin with the voter
            # record: after closing, ballots and voter records all carry the closing one.
            voter_x = {
                str(r[0])
                for r in conn.execute(
                    text("SELECT xmin FROM voting_voter WHERE session_id = :s"), {"s": sid}
                )
            }
            ballot_x = {
                str(r[0])
                for r in conn.execute(
                    text("SELECT xmin FROM voting_ballot WHERE session_id = :s"), {"s": sid}
                )
            }
            mark_x = {
                str(r[0])
                for r in conn.execute(
                    text(
                        "SELECT m.xmin FROM voting_ballot_mark m JOIN voting_ballot b"
                        " ON b.id = m.ballot_id WHERE b.session_id = :s"
                    ),
                    {"s": sid},
                )
            }
            assert len(voter_x | ballot_x | mark_x) == 1, "vote rows keep their own transaction ids"
    add_figure("privacy: ballots checked for linkability", n, backend_of(str(app.state.engine.url)))


# ---------------------------------------------------------------- small groups in analytics

K = 5
CANARY = "罕见小组的评论CANARY"
# Labels of the small groups, as codes, zh-CN and English names.
RARE = {
    "win-social",
    "社保窗口",
    "Social Insurance Window",
    "comm-a2",
    "和谐社区",
    "Hexie Community",
    "70+",
}
# Row fields that are not figures about respondents.
NOT_FIGURES = {"id", "campaign_id", "session_id", "position", "scale_min", "scale_max", "k"}


def _post_responses(client: TestClient, cid: int) -> None:
    """Two big units, one unit of 3 respondents, an area of 2, an age band of 1."""
    from tests.hardening.world import new_response

    plan: list[tuple[str, dict[str, Any]]] = []
    for i in range(24):
        area = "comm-a2" if i < 2 else "comm-a1"
        profile = {"age_band": ("30-39", "40-49")[i % 2], "sex": ("female", "male")[i % 2]}
        plan.append(("dept-civil", {"area_code": area, "profile": profile}))
        profile = {"age_band": "70+" if i == 0 else "50-59", "sex": ("male", "female")[i % 2]}
        plan.append(("dept-hrss", {"area_code": "comm-a1", "profile": profile}))
    for _ in range(3):
        plan.append(("win-social", {"comment": CANARY, "area_code": "comm-a1"}))
    for i, (unit, extra) in enumerate(plan):
        body = new_response(unit_code=unit, **extra)
        rating = 1 if unit == "win-social" else 2 + i % 4
        body["answers"] = {
            **body["answers"],
            **{
                k: rating
                for k in body["answers"]
                if k in {"attitude", "efficiency", "transparency", "integrity", "results"}
            },
        }
        if unit != "win-social":
            body["comment"] = f"普通评论{i}"
        # A different device each time, so no response is flagged as a burst.
        r = client.post(
            f"/api/v1/campaigns/{cid}/responses", json=body, headers={"user-agent": f"phone-{i}"}
        )
        assert r.status_code == 201, r.text


def _rows_mentioning_rare(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        if any(isinstance(v, str) and v in RARE for v in node.values()) and "type" not in node:
            out.append((path, node))
        for k, v in node.items():
            out += _rows_mentioning_rare(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _rows_mentioning_rare(v, f"{path}[{i}]")
    return out


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


SEEN = {"rare rows": 0, "traces": 0, "subtractions": 0}


def _leaks_in_json(body: Any) -> list[str]:
    """Rows about a small group carry no figure; figure traces show no value for it."""
    problems = []
    for path, row in _rows_mentioning_rare(body):
        SEEN["rare rows"] += 1
        shown = {k: v for k, v in row.items() if _number(v) and k not in NOT_FIGURES}
        if shown:
            problems.append(f"{path}: {shown}")
    for path, trace in _traces(body):
        SEEN["traces"] += 1
        if (trace.get("meta") or {}).get("suppressed"):
            continue
        problems += [f"{path}: {p}" for p in _trace_leaks(trace)]
    return problems


def _traces(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        if "type" in node and ("x" in node or "z" in node or "values" in node):
            out.append((path, node))
        for k, v in node.items():
            out += _traces(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _traces(v, f"{path}[{i}]")
    return out


def _trace_leaks(t: dict[str, Any]) -> list[str]:
    x, y, z = t.get("x"), t.get("y"), t.get("z")
    problems = []
    if isinstance(z, list) and z and isinstance(z[0], list):
        for i, row in enumerate(z):
            for j, v in enumerate(row):
                xs = x[j] if isinstance(x, list) and j < len(x) else None
                ys = y[i] if isinstance(y, list) and i < len(y) else None
                if (xs in RARE or ys in RARE) and _number(v):
                    problems.append(f"heatmap cell ({ys}, {xs}) = {v}")
        return problems
    labels = t.get("labels")
    if isinstance(labels, list) and isinstance(t.get("values"), list):
        x, y = labels, t["values"]
    if not (isinstance(x, list) and isinstance(y, list)):
        return problems
    for a, b in ((x, y), (y, x)):
        for i, label in enumerate(a):
            if isinstance(label, str) and label in RARE and i < len(b) and _number(b[i]):
                problems.append(f"{label} = {b[i]}")
    return problems


def _check_subtraction(client: TestClient, cid: int, h: dict[str, str]) -> list[str]:
    """What a coarser query publishes minus the finer rows shown is 0 or at least k."""
    field = {"unit": "unit_code", "area": "area_code", "age_band": "age_band", "sex": "sex"}
    pairs = [
        ("dimension", "unit,dimension"),
        ("dimension", "area,dimension"),
        ("dimension", "age_band,dimension"),
        ("dimension", "sex,dimension"),
        ("unit,dimension", "unit,sex,dimension"),
        ("unit,dimension", "unit,area,dimension"),
        ("unit,dimension", "unit,age_band,dimension"),
    ]
    problems = []
    for flagged in ("false",):  # "true" is refused to evaluators (see ``look``)
        for coarse, fine in pairs:
            params = {"include_flagged": flagged}
            a = client.get(
                f"/api/v1/campaigns/{cid}/indicators", params={**params, "by": coarse}, headers=h
            )
            b = client.get(
                f"/api/v1/campaigns/{cid}/indicators", params={**params, "by": fine}, headers=h
            )
            assert a.status_code == b.status_code == 200, (a.text[:300], b.text[:300])
            keys = [field.get(p, p) for p in coarse.split(",")]
            for total in a.json()["rows"]:
                if total["n"] is None:
                    continue
                parts = [
                    r
                    for r in b.json()["rows"]
                    if all(r.get(k) == total.get(k) for k in keys) and r["n"] is not None
                ]
                rest = total["n"] - sum(r["n"] for r in parts)
                SEEN["subtractions"] += 1
                if 0 < rest < K:
                    problems.append(
                        f"by={coarse} minus by={fine} at {[total.get(k) for k in keys]}: "
                        f"{rest} respondents recoverable"
                    )
    return problems


def test_no_small_group_is_revealed_by_any_analytics_output(
    client: TestClient, app: FastAPI
) -> None:
    from analytics.dashboard.options import SURVEY_FIGURES

    world = seed(client, app.state.engine, responses=0)
    cid = world.campaign_id
    _post_responses(client, cid)
    margins = {
        "area": {"comm-a1": 0.6, "comm-a2": 0.4},
        "sex": {"female": 0.5, "male": 0.5},
        "age_band": {"30-39": 0.2, "40-49": 0.2, "50-59": 0.3, "70+": 0.3},
    }
    r = client.patch(
        f"/api/v1/campaigns/{cid}", json={"margins": margins}, headers=world.tokens["admin"]
    )
    assert r.status_code == 200, r.text
    h = world.tokens["evaluator"]
    outputs = 0
    problems: list[str] = []

    def look(path: str, params: dict[str, Any]) -> None:
        nonlocal outputs
        r = client.get(path, params=params, headers=h)
        outputs += 1
        where = f"{path} {params}"
        if params.get("include_flagged") == "true" and path.startswith("/api/"):
            # The flagged switch is the admin's alone: an evaluator is refused.
            if r.status_code != 403:
                problems.append(f"{where}: the flagged switch answered an evaluator")
            return
        if r.status_code != 200:
            problems.append(f"{where}: {r.status_code} {r.text[:200]}")
            return
        body = r.content.decode("utf-8-sig", errors="replace")
        if CANARY in body:
            problems.append(f"{where}: a small group's comment is shown")
        if "json" in r.headers.get("content-type", ""):
            problems.extend(f"{where}: {p}" for p in _leaks_in_json(r.json()))

    variants = [{}, {"include_flagged": "true"}, {"weighted": "true"}, {"lang": "en"}]
    for by in (
        "unit",
        "dimension",
        "area",
        "age_band",
        "sex",
        "unit,dimension",
        "unit,area",
        "unit,age_band,sex",
        "area,dimension",
    ):
        for period in (None, "month", "day"):
            params = {"by": by, **({"period": period} if period else {})}
            look(f"/api/v1/campaigns/{cid}/indicators", params)
    for v in variants:
        look(f"/api/v1/campaigns/{cid}/ranking", v)
        look(f"/api/v1/campaigns/{cid}/trends", {"period": "day", **v})
        look(f"/api/v1/campaigns/{cid}/comments", {"limit": 200, **v})
        look(f"/api/v1/campaigns/{cid}/comments", {"q": "CANARY", **v})
        look(f"/api/v1/campaigns/{cid}/comments", {"unit_code": "win-social", **v})
        look(f"/api/v1/campaigns/{cid}/comments/themes", v)
        look(f"/api/v1/campaigns/{cid}/comments/themes", {"by": "area", **v})
        look("/api/v1/dashboard", {"campaign_id": cid, **v})
        for name in SURVEY_FIGURES:
            look(f"/api/v1/figures/{name}", {"campaign_id": cid, **v})
        look("/api/v1/figures/profile", {"campaign_id": cid, "unit_code": "win-social", **v})
        for name in (*SURVEY_FIGURES, "comments"):
            for fmt in ("json", "csv"):
                look(f"/api/v1/tables/{name}", {"campaign_id": cid, "format": fmt, **v})
    look(f"/api/v1/reports/{cid}", {})
    look("/dashboard", {"campaign_id": cid})
    problems += _check_subtraction(client, cid, h)
    # The checks looked at something: rows naming small groups, figure traces, totals.
    assert SEEN["rare rows"] > 50 and SEEN["traces"] > 50 and SEEN["subtractions"] > 20, SEEN
    add_figure("privacy: analytics outputs checked", outputs, backend_of(str(app.state.engine.url)))
    assert not problems, "\n".join(problems)
