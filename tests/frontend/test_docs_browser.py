"""/docs and /redoc draw the API (OpenAPI 3.1) from the product's own files, under the CSP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

pytestmark = pytest.mark.browser

METHODS = {"get", "post", "put", "patch", "delete"}


def _operations(app: FastAPI) -> int:
    return sum(
        1 for item in app.openapi()["paths"].values() for method in item if method in METHODS
    )


def _outside(requests: list[str], live_server: str) -> list[str]:
    return [u for u in requests if not u.startswith((live_server, "data:", "blob:"))]


def test_swagger_ui_draws_every_operation(
    app: FastAPI, live_server: str, new_page: Callable[..., Any], page_errors: list[str]
) -> None:
    assert app.openapi()["openapi"].startswith("3.1")
    page = new_page(width=1280)
    requests: list[str] = []
    page.on("requestfinished", lambda r: requests.append(r.url))
    page.goto(f"{live_server}/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    expected = _operations(app)
    assert expected > 30
    assert page.locator(".opblock").count() == expected
    assert "Unable to render" not in page.content()
    assert page.locator(".info .title").inner_text().startswith("Minyi")
    assert not _outside(requests, live_server)
    assert not page_errors


def test_redoc_draws_its_menu(
    app: FastAPI, live_server: str, new_page: Callable[..., Any], page_errors: list[str]
) -> None:
    page = new_page(width=1280)
    requests: list[str] = []
    # ReDoc's sidebar asks for its maker's logo from outside; the CSP blocks it (img-src
    # 'self'), so that request never completes and nothing leaves the machine.
    page.on("requestfinished", lambda r: requests.append(r.url))
    page.goto(f"{live_server}/redoc")
    page.wait_for_selector(".menu-content", timeout=20_000)
    tags = {
        t
        for item in app.openapi()["paths"].values()
        for op in item.values()
        for t in op.get("tags", [])
    }
    menu = page.locator(".menu-content").inner_text()
    assert all(tag in menu for tag in tags), (tags, menu[:500])
    assert page.locator("h1").first.inner_text().startswith("Minyi")
    assert not _outside(requests, live_server)
    assert not [e for e in page_errors if "cdn.redoc.ly" not in e]
