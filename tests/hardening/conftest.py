"""Fixtures of the hardening suite and the figures it prints at the end of the run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.hardening.world import World, seed

# Figures the suite measures (operations fuzzed, examples run, writes checked after kills,
# hostile inputs tried). Keys are "<figure> [<backend>]"; values are added up over the run.
FIGURES: dict[str, int] = {}
FIGURES_FILE = (
    Path(os.environ.get("MINYI_HARDENING_FIGURES", ""))
    if os.environ.get("MINYI_HARDENING_FIGURES")
    else None
)


def add_figure(name: str, value: int, backend: str | None = None) -> None:
    """Count something for the end-of-run summary (and the figures file, when set)."""
    key = f"{name} [{backend}]" if backend else name
    FIGURES[key] = FIGURES.get(key, 0) + int(value)
    if FIGURES_FILE is not None:
        FIGURES_FILE.write_text(json.dumps(FIGURES, indent=1, sort_keys=True))


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("hardening figures")
    for key in sorted(FIGURES):
        terminalreporter.write_line(f"{key}: {FIGURES[key]}")


@pytest.fixture
def world(client: TestClient, app: FastAPI) -> World:
    """Accounts of every role, units, a survey, campaigns with responses, voting if mounted."""
    return seed(client, app.state.engine)
