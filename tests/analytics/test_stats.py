"""The statistics kept by record_batch equal a rebuild from the raw responses."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from sqlalchemy import select

from surveys.forms.stats import RESPONSE_KEY, STAT_TABLES, rebuild
from tests.synthetic import Synthetic, add_responses


def _dump(app: FastAPI) -> dict[str, list[tuple[object, ...]]]:
    out = {}
    with app.state.engine.connect() as conn:
        for t in STAT_TABLES:
            rows = conn.execute(select(t).where(t.c.n != 0)).all()
            out[t.name] = sorted(tuple(r) for r in rows)
    return out


def test_incremental_equals_rebuilt(app: FastAPI, synthetic: Callable[..., Synthetic]) -> None:
    syn = synthetic(n=400, units=5)
    add_responses(app.state.engine, syn, n=150, seed=2, chunk=37)
    incremental = _dump(app)
    assert all(incremental.values())
    with app.state.engine.begin() as conn:
        rebuild(conn)
    assert _dump(app) == incremental
    with app.state.engine.begin() as conn:
        rebuild(conn, campaign_id=syn.campaign_id)
    assert _dump(app) == incremental
    # Every response is counted once under the respondent pseudo-question.
    total = sum(r[-1] for r in incremental["stat_unit"] if r[2] == RESPONSE_KEY)
    assert total == 550
