"""The dashboard bundle: headline and figures as one HTML-safe JSON document, cached.

The bundle is computed in a session of its own, so that the stale-while-revalidate cache can
also compute it in the background; it only reads.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import plotly.io as pio
from plotly.utils import PlotlyJSONEncoder
from sqlalchemy.engine import Engine
from sqlmodel import Session

from analytics.dashboard.cache import StaleWhileRevalidate
from analytics.indicators.lookups import inputs_version
from service.db import utcnow
from surveys.forms.models import Campaign

if TYPE_CHECKING:
    from analytics.dashboard.service import Dashboard


def json_for_html(obj: Any) -> str:
    """JSON that is also safe inside an HTML ``<script type="application/json">`` block."""
    text = json.dumps(obj, cls=PlotlyJSONEncoder, ensure_ascii=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, esc)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def figure_json(dash: Dashboard, name: str) -> str:
    """One figure as Plotly JSON (HTML-safe)."""
    return pio.to_json(dash.figure(name), validate=False)


def bundle_json(dash: Dashboard, names: Sequence[str]) -> str:
    """``{"headline": ..., "figures": {name: figure}, "computed_at": ...}`` as one HTML-safe
    JSON document."""
    parts = [f"{json_for_html(n)}:{figure_json(dash, n)}" for n in names]
    head = json_for_html(dash.headline()) if dash.campaign is not None else "null"
    at = json_for_html(utcnow().isoformat(timespec="seconds"))
    return '{"headline":' + head + ',"figures":{' + ",".join(parts) + '},"computed_at":' + at + "}"


def cached_bundle(
    cache: StaleWhileRevalidate, engine: Engine, dash: Dashboard, names: Sequence[str]
) -> str:
    """The bundle through the stale-while-revalidate cache. It is computed in a session of
    its own, so that the cache can also compute it in the background."""
    wanted = list(names) or dash.default_figures()
    f = dash.filters
    campaign_id = dash.campaign.id if dash.campaign is not None else None
    key = (campaign_id, f, dash.lang, dash.k, dash.voting_session_id, tuple(wanted))

    def compute() -> str:
        with Session(engine) as s:
            campaign = s.get(Campaign, campaign_id) if campaign_id is not None else None
            fresh = type(dash)(
                s,
                campaign=campaign,
                filters=f,
                lang=dash.lang,
                min_group_size=dash.k,
                voting_session_id=dash.voting_session_id,
            )
            return bundle_json(fresh, wanted)

    return cache.get(key, compute, version=lambda: inputs_version(engine, campaign_id))
