"""Dashboard API: figures as Plotly JSON, the bundle, table downloads and the HTML report."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, col, func, select

from analytics.dashboard.options import SURVEY_FIGURES
from analytics.report import plotly_js
from service.audit import AuditEntry
from service.models import Role
from surveys.forms.models import SurveyResponse
from surveys.units.models import Unit
from tests.factories import headers_for
from tests.frontend.dashboard_factory import build_vote
from tests.synthetic import Synthetic, add_responses, make_campaign


@pytest.fixture
def syn(synthetic: Callable[..., Synthetic]) -> Synthetic:
    # No comments: scoring them is the comment tests' business and takes time.
    return synthetic(n=500, units=6, areas=3, seed=5, comment_share=0.0)


@pytest.fixture
def ev(client: TestClient, session: Session) -> dict[str, str]:
    return headers_for(client, session, "evaluator")


def fig(client: TestClient, h: dict[str, str], name: str, **params: Any) -> dict[str, Any]:
    r = client.get(f"/api/v1/figures/{name}", params=params, headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return r.json()  # type: ignore[no-any-return]


def test_every_survey_figure_is_plotly_json_with_drawn_data(
    client: TestClient, ev: dict[str, str], syn: Synthetic
) -> None:
    for name in SURVEY_FIGURES:
        body = fig(client, ev, name, campaign_id=syn.campaign_id)
        assert set(body) >= {"data", "layout"}, name
        assert body["layout"]["title"]["text"], name
    ranking = fig(client, ev, "ranking", campaign_id=syn.campaign_id)
    bars = ranking["data"][0]
    assert len(bars["x"]) == 6 and all(0 <= x <= 100 for x in bars["x"])
    # The unit code rides in customdata for the click-through to a profile.
    assert sorted(c[0] for c in bars["customdata"]) == sorted(syn.unit_codes)
    heat = fig(client, ev, "heatmap", campaign_id=syn.campaign_id)["data"][0]
    assert len(heat["z"]) == 6 and all(v is not None for row in heat["z"] for v in row)
    prof = fig(client, ev, "profile", campaign_id=syn.campaign_id, unit_code=syn.unit_codes[2])
    assert "部门3" in prof["layout"]["title"]["text"]
    assert len(prof["data"]) == 2 and len(prof["data"][0]["y"]) == len(prof["data"][1]["y"])


def test_figure_routes_check_role_name_campaign_and_query(
    client: TestClient, session: Session, ev: dict[str, str], syn: Synthetic
) -> None:
    url = "/api/v1/figures/ranking"
    ok = {"campaign_id": syn.campaign_id}
    assert client.get(url, params=ok).status_code == 401
    deputy = headers_for(client, session, "deputy")
    assert client.get(url, params=ok, headers=deputy).status_code == 403
    admin = headers_for(client, session, "admin")
    assert client.get(url, params=ok, headers=admin).status_code == 200
    assert client.get("/api/v1/figures/pie", params=ok, headers=ev).status_code == 404
    assert client.get(url, params={"campaign_id": 99999}, headers=ev).status_code == 404
    for bad in (
        {},  # campaign_id is required for survey figures
        {**ok, "period": "year"},
        {**ok, "area": "no-such-area"},
        {**ok, "unit_code": "no-such-unit"},
        {**ok, "unit_kind": "planet"},
        {**ok, "lang": "fr"},
        {**ok, "campaign_id": "x"},
    ):
        r = client.get(url, params=bad, headers=ev)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["detail"][0]["loc"][0] == "query"


def test_filters_change_the_plotted_data(
    client: TestClient, ev: dict[str, str], syn: Synthetic
) -> None:
    cid = syn.campaign_id
    base = fig(client, ev, "heatmap", campaign_id=cid)["data"][0]["z"]
    one_area = fig(client, ev, "heatmap", campaign_id=cid, area=syn.area_codes[0])["data"][0]["z"]
    assert base != one_area

    # The periods behind the responses chart (weeks may all be hidden: their cells are rarely
    # whole disclosure blocks, so compare the table's periods, shown or not).
    def periods(**params: Any) -> list[str]:
        r = client.get(
            "/api/v1/tables/responses",
            params={"campaign_id": cid, "format": "json", **params},
            headers=ev,
        )
        assert r.status_code == 200, r.text
        return [row["period"] for row in r.json()["rows"]]

    weekly, monthly = periods(period="week"), periods(period="month")
    assert len(weekly) > len(monthly) >= 3
    plain = fig(client, ev, "ranking", campaign_id=cid)["data"][0]["x"]
    weighted = fig(client, ev, "ranking", campaign_id=cid, weighted="true")["data"][0]["x"]
    assert plain != weighted
    # One month: January's rows of the monthly tables; blank (the plain form) means all.
    january = fig(client, ev, "responses", campaign_id=cid, month="2026-01")
    assert january["data"][0]["x"] == ["2026-01"]
    assert periods(month="") == monthly
    in_month = fig(client, ev, "heatmap", campaign_id=cid, month="2026-02")["data"][0]["z"]
    assert in_month != base
    ranked = fig(client, ev, "ranking", campaign_id=cid, month="2026-02")["data"][0]["x"]
    assert ranked != plain
    for bad in ("2026-13", "2026-2", "March"):
        r = client.get(
            "/api/v1/figures/heatmap", params={"campaign_id": cid, "month": bad}, headers=ev
        )
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["query", "month"]
    kind = fig(client, ev, "ranking", campaign_id=cid, unit_kind="street")
    # The synthetic units are all departments: nothing to rank among streets.
    assert kind["data"] == [] and kind["layout"]["annotations"][0]["text"] == "暂无可显示的数据"


def test_bundle_gives_headline_and_figures(
    client: TestClient, session: Session, ev: dict[str, str], syn: Synthetic
) -> None:
    r = client.get("/api/v1/dashboard", params={"campaign_id": syn.campaign_id}, headers=ev)
    assert r.status_code == 200
    body = r.json()
    assert set(body["figures"]) == set(SURVEY_FIGURES)
    valid = session.exec(
        select(func.count())
        .select_from(SurveyResponse)
        .where(
            SurveyResponse.campaign_id == syn.campaign_id, col(SurveyResponse.flagged).is_(False)
        )
    ).one()
    assert body["headline"]["responses"] == valid
    assert body["headline"]["areas"] == 3 and body["headline"]["units"] == 6
    h = body["headline"]
    assert h["overall_low"] < h["overall"] < h["overall_high"]
    flagged = {"campaign_id": syn.campaign_id, "include_flagged": "true", "names": "responses"}
    # The flagged switch is the admin's alone (with and without differ by the flagged few).
    refused = client.get("/api/v1/dashboard", params=flagged, headers=ev)
    assert refused.status_code == 403 and "include_flagged" in refused.json()["detail"]
    admin = headers_for(client, session, Role.admin, "adm")
    with_flagged = client.get("/api/v1/dashboard", params=flagged, headers=admin).json()
    assert with_flagged["headline"]["responses"] == syn.responses > valid
    assert list(with_flagged["figures"]) == ["responses"]
    bad = client.get(
        "/api/v1/dashboard", params={"campaign_id": syn.campaign_id, "names": "x"}, headers=ev
    )
    assert bad.status_code == 422
    assert client.get("/api/v1/dashboard", headers=ev).status_code == 422
    assert client.get("/api/v1/dashboard").status_code == 401


def test_groups_below_the_threshold_show_no_values_anywhere(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app(min_group_size=10_000)
    syn = make_campaign(app.state.engine, units=4, areas=2, prefix="k")
    add_responses(app.state.engine, syn, n=300, comment_share=0.0)
    with TestClient(app) as client, Session(app.state.engine) as session:
        h = headers_for(client, session, "evaluator")
        cid = syn.campaign_id
        ranking = fig(client, h, "ranking", campaign_id=cid)
        assert ranking["data"][0]["x"] == []
        assert sorted(ranking["data"][1]["customdata"][i][0] for i in range(4)) == sorted(
            syn.unit_codes
        )
        heat = fig(client, h, "heatmap", campaign_id=cid)["data"][0]["z"]
        assert all(v is None for row in heat for v in row)
        for name in ("breakdown_area", "breakdown_profile", "profile", "trends"):
            data = fig(client, h, name, campaign_id=cid)["data"]
            assert all(y is None for t in data for y in t.get("y", []) or []), name
        csv = client.get(
            "/api/v1/tables/heatmap", params={"campaign_id": cid, "format": "csv"}, headers=h
        ).content.decode("utf-8-sig")
        header, *lines = csv.splitlines()
        cols = header.split(",")
        assert "shrunk_score" not in cols or all(
            line.split(",")[cols.index("shrunk_score")] == "" for line in lines
        )
        head = client.get("/api/v1/dashboard", params={"campaign_id": cid}, headers=h).json()
        assert head["headline"]["overall"] is None and head["headline"]["responses"] is None


def test_csv_and_xlsx_downloads_neutralise_formulas_and_are_audited(
    client: TestClient, session: Session, ev: dict[str, str], syn: Synthetic
) -> None:
    unit = session.exec(select(Unit).where(Unit.code == syn.unit_codes[0])).one()
    unit.name = '=HYPERLINK("http://evil.example","x")'
    session.add(unit)
    session.commit()
    params = {"campaign_id": syn.campaign_id, "format": "csv"}
    r = client.get("/api/v1/tables/ranking", params=params, headers=ev)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    text = r.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("unit_code,unit_name")
    assert "'=HYPERLINK" in text and ',"=HYPERLINK' not in text and ",=HYPERLINK" not in text
    x = client.get("/api/v1/tables/ranking", params={**params, "format": "xlsx"}, headers=ev)
    assert x.status_code == 200 and x.content[:2] == b"PK"
    ws = load_workbook(io.BytesIO(x.content)).active
    values = [c.value for row in ws.iter_rows() for c in row]
    assert '\'=HYPERLINK("http://evil.example","x")' in values
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)
    assert ws.cell(row=2, column=1).value in syn.unit_codes
    actions = session.exec(
        select(AuditEntry.action, AuditEntry.target).where(AuditEntry.action == "table.export")
    ).all()
    assert actions == [("table.export", "ranking"), ("table.export", "ranking")]
    assert client.get("/api/v1/tables/nothing", params=params, headers=ev).status_code == 404
    bad = client.get("/api/v1/tables/ranking", params={**params, "format": "pdf"}, headers=ev)
    assert bad.status_code == 422


def test_comment_list_is_searchable_and_escaped_as_json(
    client: TestClient, ev: dict[str, str], synthetic: Callable[..., Synthetic]
) -> None:
    syn = synthetic(n=300, units=3, areas=2, seed=9, comment_share=0.6)
    params: dict[str, Any] = {"campaign_id": syn.campaign_id, "format": "json"}
    r = client.get("/api/v1/tables/comments", params=params, headers=ev)
    assert r.status_code == 200
    rows = r.json()["rows"]
    assert rows and all(row["comment"] for row in rows)
    assert {row["unit_code"] for row in rows} <= set(syn.unit_codes)
    found = client.get(
        "/api/v1/tables/comments", params={**params, "q": "12345"}, headers=ev
    ).json()["rows"]
    assert found and all("12345" in row["comment"] for row in found)
    one = client.get(
        "/api/v1/tables/comments",
        params={**params, "unit_code": syn.unit_codes[1]},
        headers=ev,
    ).json()["rows"]
    assert one and {row["unit_code"] for row in one} == {syn.unit_codes[1]}
    bad = client.get("/api/v1/tables/comments", params={**params, "sentiment": "angry"}, headers=ev)
    assert bad.status_code == 422
    # JSON is safe to drop into HTML: no raw angle brackets.
    assert "<" not in r.text


def test_report_is_one_self_contained_escaped_html_file(
    client: TestClient, session: Session, ev: dict[str, str], syn: Synthetic
) -> None:
    unit = session.exec(select(Unit).where(Unit.code == syn.unit_codes[0])).one()
    unit.name = "<script>alert('x')</script>"
    session.add(unit)
    session.commit()
    r = client.get(f"/api/v1/reports/{syn.campaign_id}", headers=ev)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert f"minyi-report-{syn.campaign_id}.html" in r.headers["content-disposition"]
    html = r.text
    assert "plotly.js v" in html  # the library is inside the file
    assert "<script src" not in html and "<link" not in html
    # Apart from the library's own source, nothing points outside the file.
    own = html.replace(plotly_js(), "")
    assert "https://" not in own and "http://" not in own
    assert "<script>alert('x')</script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html  # the ranking table
    for name in ("ranking", "heatmap", "profile", "trends", "breakdown_area", "sentiment"):
        assert f'id="plot-{name}"' in html
    blocks = html.split('<script type="application/json" class="fig-data"')[1:]
    assert len(blocks) >= 8
    first = blocks[0].split(">", 1)[1].split("</script>", 1)[0]
    assert json.loads(first)["data"]
    assert "@media print" in html
    assert (
        session.exec(select(AuditEntry).where(AuditEntry.action == "report.export")).first()
        is not None
    )
    assert client.get("/api/v1/reports/99999", headers=ev).status_code == 404
    assert client.get(f"/api/v1/reports/{syn.campaign_id}").status_code == 401
    bad = client.get(f"/api/v1/reports/{syn.campaign_id}", params={"lang": "xx"}, headers=ev)
    assert bad.status_code == 422


def test_vote_and_tracker_figures_from_the_published_session(
    app: FastAPI, client: TestClient, ev: dict[str, str], syn: Synthetic
) -> None:
    sid = build_vote(app, deputies=9)
    vote_fig = fig(client, ev, "vote")  # no session_id: the latest published session
    same = fig(client, ev, "vote", session_id=sid)
    assert vote_fig == same
    votes_for = vote_fig["data"][0]["x"]
    assert len(votes_for) == 5 and sum(votes_for) == 30  # 9 deputies, 2 of 3 marks "for"
    # The pass line: more than half of all 9 deputies.
    assert any(s.get("xref") == "x" and s["x0"] == 5 for s in vote_fig["layout"]["shapes"])
    assert any(s.get("xref") == "x2" and s["x0"] == 300 for s in vote_fig["layout"]["shapes"])
    mes = [t for t in vote_fig["data"] if t.get("meta") == {"rule": "equal_shares"}]
    assert len(mes) == 1 and len(mes[0]["y"]) == 5
    tracker = fig(client, ev, "tracker", session_id=sid)["data"][0]
    assert 40 in tracker["x"]
    assert all("<b>" not in c[1] for c in tracker["customdata"])  # the note is escaped
    bundle = client.get(
        "/api/v1/dashboard", params={"campaign_id": syn.campaign_id}, headers=ev
    ).json()
    assert {"vote", "tracker"} <= set(bundle["figures"])
    only_vote = client.get("/api/v1/dashboard", params={"names": "vote"}, headers=ev)
    assert only_vote.status_code == 200 and only_vote.json()["headline"] is None
    csv = client.get(
        "/api/v1/tables/vote", params={"session_id": sid, "format": "csv"}, headers=ev
    ).content.decode("utf-8-sig")
    assert csv.splitlines()[0].startswith("project_id,title") and len(csv.splitlines()) == 6
    assert (
        client.get("/api/v1/figures/vote", params={"session_id": 999}, headers=ev).status_code
        == 404
    )
    en = fig(client, ev, "vote", lang="en")
    assert en["data"][0]["y"][0].startswith("Project ")


def test_vote_figure_without_any_published_session_is_404(
    client: TestClient, ev: dict[str, str]
) -> None:
    assert client.get("/api/v1/figures/vote", headers=ev).status_code == 404
    assert client.get("/api/v1/figures/tracker", headers=ev).status_code == 404


def test_codes_and_search_text_are_checked_before_any_query(
    client: TestClient, ev: dict[str, str], syn: Synthetic
) -> None:
    base = {"campaign_id": syn.campaign_id}
    for params in ({"area": "a\x00b"}, {"unit_code": "<script>"}, {"area": "x" * 65}):
        r = client.get("/api/v1/figures/heatmap", params={**base, **params}, headers=ev)
        assert r.status_code == 422, params
    r = client.get(
        "/api/v1/tables/comments", params={**base, "format": "json", "q": "a\x00b"}, headers=ev
    )
    assert r.status_code == 422
    ok = client.get(
        "/api/v1/tables/comments", params={**base, "format": "json", "q": "排队 <b>"}, headers=ev
    )
    assert ok.status_code == 200
