"""The demo district: each domain contributes its step, in dependency order."""

from __future__ import annotations

import importlib
import random

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from service.models import User

# Each step is "module:function", called as fn(engine=..., rng=..., responses=...).
DEMO_STEPS = [
    "service.demo:accounts",
    "surveys.units.demo:build",
    "surveys.forms.demo:build",
    "surveys.voting.demo:build",
    "surveys.evaluation.demo:build",
    "analytics.assessment.demo:build",
    # Last: the comments are scored once stored, so the dashboard opens with its comment charts.
    "analytics.demo:score",
]


def database_is_empty(session: Session) -> bool:
    """True when there are no accounts yet."""
    return session.exec(select(User).limit(1)).first() is None


def build_demo(engine: Engine, *, responses: int, seed: int = 7) -> None:
    """Run every domain's demo step with one seeded random generator."""
    rng = random.Random(seed)
    for step in DEMO_STEPS:
        module, func = step.split(":")
        getattr(importlib.import_module(module), func)(engine=engine, rng=rng, responses=responses)


DEMO_PASSWORDS = {"admin": "minyi-admin-demo", "evaluator": "minyi-eval-demo"}


def accounts(*, engine: Engine, rng: random.Random, responses: int) -> None:
    """Demo staff accounts (the passwords are printed: demo data only)."""
    import sys

    from service.models import Role, UserCreate
    from service.users import create_user

    with Session(engine) as s:
        for name, role, display in (
            ("admin", Role.admin, "系统管理员"),
            ("evaluator", Role.evaluator, "考评办"),
        ):
            create_user(
                s,
                data=UserCreate(
                    username=name, role=role, display_name=display, password=DEMO_PASSWORDS[name]
                ),
            )
        s.commit()
    sys.stderr.write(
        "demo accounts: admin / {admin}, evaluator / {evaluator}\n".format(**DEMO_PASSWORDS)
    )
