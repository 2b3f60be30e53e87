"""``minyi report CAMPAIGN --out FILE.html``: the dashboard's HTML report, from the shell."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from service.cli import fail, open_engine


@click.command("report")
@click.argument("campaign_id", metavar="CAMPAIGN", type=int)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The HTML file to write.",
)
@click.option("--lang", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True)
@click.option("--session", "voting_session_id", type=int, default=None, help="Voting session.")
@click.option("--weighted", is_flag=True, help="Weight responses to the population margins.")
@click.option("--include-flagged", is_flag=True, help="Count flagged responses too.")
def report(
    campaign_id: int,
    out: Path,
    lang: str,
    voting_session_id: int | None,
    weighted: bool,
    include_flagged: bool,
) -> None:
    """Write the self-contained HTML report of CAMPAIGN (an id) to --out."""
    from sqlmodel import Session

    from analytics import report as html_report
    from analytics.dashboard.options import DashFilters
    from analytics.dashboard.service import Dashboard
    from service.config import get_settings
    from service.progress import progress
    from surveys.forms.models import Campaign

    engine = open_engine()
    with Session(engine) as s:
        campaign = s.get(Campaign, campaign_id)
        if campaign is None:
            fail(f"no campaign with id {campaign_id}")
        dash = Dashboard(
            s,
            campaign=campaign,
            filters=DashFilters(weighted=weighted, include_flagged=include_flagged),
            lang=lang,
            min_group_size=get_settings().min_group_size,
            voting_session_id=voting_session_id,
        )
        with progress("report", 1) as p:
            html = html_report.build(
                dash, generated_at=datetime.now(UTC), time_zone=get_settings().time_zone
            )
            p.advance()
    out.write_text(html, encoding="utf-8")
    click.echo(f"Wrote {out} ({len(html.encode('utf-8')) / 1e6:.1f} MB).")
