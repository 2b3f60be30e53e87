"""``minyi evaluation-reports CAMPAIGN --out DIR``: the one-page report of every subject (or
one) of a closed democratic evaluation, for the file, from the shell; each read audited."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from service.cli import fail, open_engine

CLI_ACTOR = "cli"


@click.command("evaluation-reports")
@click.argument("campaign_id", metavar="CAMPAIGN", type=int)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder to write one HTML file per subject into.",
)
@click.option("--subject", "subject_id", type=int, default=None, help="One subject only.")
@click.option("--lang", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True)
def evaluation_reports(campaign_id: int, out: Path, subject_id: int | None, lang: str) -> None:
    """Write the one-page report of each subject of CAMPAIGN (a closed democratic evaluation)."""
    from sqlmodel import Session

    from analytics.evaluation import report
    from analytics.evaluation.service import chosen_subjects, read_evaluation
    from service.config import get_settings
    from service.errors import AppError
    from service.progress import progress
    from surveys.forms.models import Campaign

    settings = get_settings()
    engine = open_engine()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with Session(engine) as s:
        campaign = s.get(Campaign, campaign_id)
        if campaign is None:
            fail(f"no campaign with id {campaign_id}")
        try:
            ids = [
                sid
                for sid in (
                    x.id for x in chosen_subjects(s, campaign_id=campaign_id, subject_id=subject_id)
                )
                if sid is not None
            ]
            with progress("evaluation reports", len(ids)) as p:
                for sid in ids:
                    results = read_evaluation(
                        s,
                        campaign=campaign,
                        k=settings.min_group_size,
                        actor=CLI_ACTOR,
                        action="evaluation.report",
                        subject_id=sid,
                    )
                    html = report.build(
                        results,
                        lang=lang,
                        generated_at=datetime.now(UTC),
                        time_zone=settings.time_zone,
                        printed_by=CLI_ACTOR,
                    )
                    path = out / f"evaluation-{campaign_id}-{sid}.html"
                    path.write_text(html, encoding="utf-8")
                    written.append(path)
                    p.advance()
        except AppError as exc:
            fail(str(exc))
        s.commit()
    click.echo(f"Wrote {len(written)} report(s) to {out}.")
