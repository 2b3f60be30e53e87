"""Schemathesis against the live OpenAPI schema of a running server, on both databases.

Every operation is called as admin, evaluator, deputy and anonymous with generated data
(valid data for the roles an operation admits, invalid data too). Nothing may answer 5xx and
every documented response must match its schema. Bounded: a few examples per operation and
role, derandomized so a CI run is reproducible.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from sqlmodel import Session

from service.models import Role
from tests.factories import make_user
from tests.hardening.conftest import add_figure, backend_of
from tests.hardening.routes import roles_by_operation
from tests.hardening.world import World, seed, token

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
# Examples per operation: valid data for an admitted role, invalid data, and callers that
# must be turned away (anonymous or the wrong role). With 113 operations, four roles and two
# databases these budgets give about 2,800 requests and 2.5 minutes; 12/6/3 had taken four
# minutes of a suite that must stay well inside CI's time.
ADMITTED_EXAMPLES = 8
NEGATIVE_EXAMPLES = 4
REFUSED_EXAMPLES = 2
ROLES = ("admin", "evaluator", "deputy", "anonymous")


def _admits(roles: frozenset[Role] | None, caller: str) -> bool:
    if roles is None:
        return True
    return caller != "anonymous" and Role(caller) in roles


class Fuzzer:
    """Runs bounded hypothesis loops per operation and caller, collecting every failure."""

    def __init__(self, base_url: str, app: FastAPI, world: World, spare_user_id: int) -> None:
        self.base_url = base_url
        self.app = app
        self.world = world
        self.spare_user_id = spare_user_id
        self.http = requests.Session()
        self.examples = 0
        self.failures: list[str] = []

    def headers(self, caller: str) -> dict[str, str]:
        return {} if caller == "anonymous" else dict(self.world.tokens[caller])

    def _fix(self, case: schemathesis.Case) -> None:
        # The callers' own accounts are not the fuzzer's to deactivate or demote.
        params = case.path_parameters or {}
        if "user_id" in params and params["user_id"] in self.world.user_ids.values():
            params["user_id"] = self.spare_user_id
        # Generated names must not lock the seeded accounts out of logging in again.
        body = case.body
        if isinstance(body, dict) and str(body.get("username", "")).startswith("h-"):
            body["username"] = "fuzz-" + str(body["username"])

    def run(self, op: Any, caller: str, mode: GenerationMode, n: int) -> None:
        label = f"{op.method.upper()} {op.path} as {caller} ({mode.value})"
        headers = self.headers(caller)

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(
            max_examples=n,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
            verbosity=Verbosity.quiet,
        )
        def _one(case: schemathesis.Case) -> None:
            self._fix(case)
            self.examples += 1
            case.call_and_validate(
                base_url=self.base_url,
                session=self.http,
                headers=headers,
                checks=CHECKS,
                timeout=30,
            )

        try:
            _one()
        except Unsatisfiable:
            pass  # invalid data cannot be made for an operation that takes no input
        except (Exception, BaseExceptionGroup) as exc:  # collected, then reported together
            self.failures.append(f"{label}:\n{str(exc)[:3000]}")
        self._restore_tokens()

    def _restore_tokens(self) -> None:
        # Logout revokes the token it was called with; log in again when that happened.
        with httpx.Client(base_url=self.base_url) as c:
            for role, headers in list(self.world.tokens.items()):
                if c.get("/api/v1/users/me", headers=headers).status_code != 200:
                    name = "h-admin" if role == "admin" else "h-eval"
                    name = self.world.deputies[0] if role == "deputy" else name
                    self.world.tokens[role] = token(c, name)


@pytest.mark.slow
def test_fuzz_every_operation_as_every_role(
    app: FastAPI, live_server: str, database_url: str
) -> None:
    backend = backend_of(database_url)
    with httpx.Client(base_url=live_server, timeout=30) as c:
        world = seed(c, app.state.engine)
    with Session(app.state.engine) as s:
        spare = make_user(s, Role.evaluator, "h-spare").id or 0
    schema = schemathesis.openapi.from_url(f"{live_server}/openapi.json")
    roles = roles_by_operation(app)
    fuzz = Fuzzer(live_server, app, world, spare)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    started = time.monotonic()
    for op in operations:
        admitted = roles[(op.method.upper(), op.path)]
        for caller in ROLES:
            if _admits(admitted, caller):
                fuzz.run(op, caller, GenerationMode.POSITIVE, ADMITTED_EXAMPLES)
                fuzz.run(op, caller, GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)
            else:
                fuzz.run(op, caller, GenerationMode.POSITIVE, REFUSED_EXAMPLES)
    elapsed = time.monotonic() - started
    add_figure("fuzz: operations fuzzed", len(operations), backend)
    add_figure("fuzz: examples run", fuzz.examples, backend)
    add_figure("fuzz: seconds", round(elapsed), backend)
    assert not fuzz.failures, (
        f"{len(fuzz.failures)} failing operation/caller pairs:\n\n" + "\n\n".join(fuzz.failures)
    )
