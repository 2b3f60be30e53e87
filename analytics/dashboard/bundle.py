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
from analytics.dashboard.options import DashFilters
from analytics.indicators import cube
from analytics.indicators.lookups import inputs_version
from service.db import make_engine, utcnow
from service.offload import Offload, OffloadError
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


# A campaign this large has its bundles computed in the refresh process even when nothing is
# cached, so that a worker never holds a first computation's temporaries (at ten million
# responses 90-180 MB over 13-17 s); below it a bundle takes under a second or two and little
# memory, and starting that process (some 2 s) would be most of the wait.
APART_ROWS = 1_000_000


def cached_bundle(
    cache: StaleWhileRevalidate,
    engine: Engine,
    dash: Dashboard,
    names: Sequence[str],
    offload: Offload | None = None,
) -> str:
    """The bundle through the stale-while-revalidate cache. It is computed in a session of
    its own, so that the cache can also compute it in the background: in ``offload``'s child
    process when given. A request that finds nothing cached computes it here, at once, or in
    that process for a campaign of ``APART_ROWS`` responses or more."""
    wanted = list(names) or dash.default_figures()
    f = dash.filters
    campaign_id = dash.campaign.id if dash.campaign is not None else None
    key = (campaign_id, f, dash.lang, dash.k, dash.voting_session_id, tuple(wanted))
    job = (campaign_id, f, dash.lang, dash.k, dash.voting_session_id, wanted)

    background = None
    if offload is not None:
        url = engine.url.render_as_string(hide_password=False)

        def background() -> str:
            return offload.call(bundle_apart, url, *job)

    def compute() -> str:
        if background is not None and inputs_version(engine, campaign_id)[0] >= APART_ROWS:
            try:
                return background()
            except OffloadError:
                pass  # the request is answered all the same, from here
        return _bundle(engine, *job)

    return cache.get(
        key,
        compute,
        version=lambda: inputs_version(engine, campaign_id),
        background=background,
    )


def _bundle(
    engine: Engine,
    campaign_id: int | None,
    filters: DashFilters,
    lang: str,
    k: int,
    voting_session_id: int | None,
    wanted: list[str],
) -> str:
    # Here, not at the top: the dashboard's service module imports this one.
    from analytics.dashboard.service import Dashboard

    with Session(engine) as s, cube.one_generation():
        campaign = s.get(Campaign, campaign_id) if campaign_id is not None else None
        dash = Dashboard(
            s,
            campaign=campaign,
            filters=filters,
            lang=lang,
            min_group_size=k,
            voting_session_id=voting_session_id,
        )
        return bundle_json(dash, wanted)


# The child process's engines, one per database it computes bundles of.
_ENGINES: dict[str, Engine] = {}


def bundle_apart(url: str, *job: Any) -> str:
    """``_bundle`` in an ``Offload`` child process, on an engine of its own for ``url``."""
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = make_engine(url)
    return _bundle(engine, *job)
