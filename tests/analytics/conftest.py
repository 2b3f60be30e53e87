"""Analytics fixtures: synthetic campaigns written through the statistics contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from tests.synthetic import Synthetic, add_responses, make_campaign


@pytest.fixture
def synthetic(app: FastAPI) -> Callable[..., Synthetic]:
    """Build a synthetic campaign on the app's database: synthetic(n=..., units=..., ...)."""
    counter = {"i": 0}

    def _make(
        n: int = 600, *, units: int = 8, areas: int = 3, seed: int = 1, **kw: Any
    ) -> Synthetic:
        counter["i"] += 1
        weights = kw.pop("dimension_weights", None)
        syn = make_campaign(
            app.state.engine,
            units=units,
            areas=areas,
            prefix=f"s{counter['i']}",
            dimension_weights=weights,
        )
        add_responses(app.state.engine, syn, n=n, seed=seed, **kw)
        return syn

    return _make
