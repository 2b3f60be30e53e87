"""Fixtures for the voting tests: an admin, units, and a small electorate with tokens."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.models import Role
from tests.factories import headers_for
from tests.surveys.voting.factories import bearer, make_deputies, make_units


@dataclass
class Electorate:
    names: list[str]
    headers: list[dict[str, str]]


@pytest.fixture
def admin(client: TestClient, session: Session) -> dict[str, str]:
    make_units(session)
    return headers_for(client, session, Role.admin, "admin")


@pytest.fixture
def deputies(app: FastAPI, session: Session) -> Electorate:
    """Seven deputies, each with bearer headers."""
    users = make_deputies(session, 7)
    return Electorate([u.username for u in users], [bearer(app, session, u) for u in users])
