"""The dashboard opens on the main campaign, and offers weighting only where it can work."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.models import Role
from surveys.forms.models import Campaign
from tests.frontend.dashboard_factory import build_world
from tests.frontend.test_dashboard_page import _boot
from tests.synthetic import add_responses, make_campaign


def test_opens_on_the_open_campaign_with_most_responses(client: TestClient, app: FastAPI) -> None:
    world = build_world(app.state.engine, app.state.settings, responses=200)
    newer = make_campaign(app.state.engine, units=3, areas=2, prefix="nw")
    add_responses(app.state.engine, newer, n=20, seed=3)
    assert newer.campaign_id > world.syn.campaign_id
    client.cookies.update(world.cookies[Role.evaluator])
    assert _boot(client.get("/dashboard").text)["campaign_id"] == world.syn.campaign_id
    # The picker still offers the newer one, and asking for it opens it.
    page = client.get(f"/dashboard?campaign_id={newer.campaign_id}").text
    assert _boot(page)["campaign_id"] == newer.campaign_id


def test_weighting_is_disabled_without_margins(client: TestClient, app: FastAPI) -> None:
    world = build_world(app.state.engine, app.state.settings, responses=200)
    client.cookies.update(world.cookies[Role.evaluator])
    box = re.compile(r'<input type="checkbox" name="weighted"[^>]*>')
    with_margins = client.get("/dashboard").text
    tag = box.search(with_margins)
    assert tag and "disabled" not in tag.group(0)
    with Session(app.state.engine) as s:
        c = s.get(Campaign, world.syn.campaign_id)
        assert c is not None
        c.margins = None
        s.add(c)
        s.commit()
    page = client.get("/dashboard?weighted=true").text
    tag = box.search(page)
    assert tag and "disabled" in tag.group(0) and "checked" not in tag.group(0)
    assert "本次评议活动尚未上传人口结构数据，暂不能加权" in page
    boot = _boot(page)
    assert boot["filters"]["weighted"] is False and "weighted" not in boot["bundle_url"]
    assert client.get(boot["bundle_url"]).status_code == 200
    # The API itself still refuses a weighted request, with its message.
    api = client.get(boot["bundle_url"] + "&weighted=true")
    assert api.status_code == 422
    en = client.get("/dashboard?lang=en").text
    assert "no population margins yet" in en
