"""``minyi analytics``: rebuild the statistics and score comments."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import delete, func, select
from sqlmodel import Session, col

from service.cli import open_engine


def register(main: click.Group) -> None:
    """Add the ``analytics`` command group to the main CLI."""
    main.add_command(analytics)
    from analytics.evaluation.cli import evaluation_reports
    from analytics.report.cli import report

    main.add_command(report)
    main.add_command(evaluation_reports)


@click.group()
def analytics() -> None:
    """Indicators and comment analysis."""


@analytics.command("rebuild")
@click.option("--campaign", "campaign_id", type=int, default=None, help="Only this campaign.")
@click.option("--sentiment/--no-sentiment", default=True, show_default=True, help="Score comments.")
@click.option("--rescore", is_flag=True, help="Score every comment again, not only new ones.")
def rebuild_cmd(campaign_id: int | None, sentiment: bool, rescore: bool) -> None:
    """Recompute all statistics from the raw responses, then score unscored comments."""
    from analytics.comments import scoring
    from analytics.comments.models import CommentScanMark, CommentSentiment
    from service.progress import progress
    from surveys.forms.models import SurveyResponse
    from surveys.forms.stats import rebuild

    engine = open_engine()
    with progress("statistics", 1) as p, engine.begin() as conn:
        rebuild(conn, campaign_id=campaign_id)
        p.advance()
    if not sentiment:
        click.echo("Statistics rebuilt.")
        return
    with Session(engine) as s:
        if rescore:
            stmt = delete(CommentSentiment)
            if campaign_id is not None:
                ids = select(col(SurveyResponse.id)).where(
                    col(SurveyResponse.campaign_id) == campaign_id
                )
                stmt = stmt.where(col(CommentSentiment.response_id).in_(ids))
            s.execute(stmt)
            # The comment views' marks say "scored up to here": no longer true.
            marks = delete(CommentScanMark)
            if campaign_id is not None:
                marks = marks.where(col(CommentScanMark.campaign_id) == campaign_id)
            s.execute(marks)
            s.commit()
        total = (
            scoring.pending_count(s, campaign_id=campaign_id)
            if campaign_id is not None
            else int(
                s.execute(
                    select(func.count())
                    .select_from(SurveyResponse)
                    .outerjoin(
                        CommentSentiment,
                        col(CommentSentiment.response_id) == col(SurveyResponse.id),
                    )
                    .where(
                        col(CommentSentiment.response_id).is_(None),
                        col(SurveyResponse.comment).is_not(None),
                        col(SurveyResponse.comment) != "",
                    )
                ).scalar_one()
            )
        )
        with progress("comments", total) as p:
            while True:
                n = scoring.score_pending(s, campaign_id=campaign_id, limit=1000)
                s.commit()
                p.advance(n)
                if n == 0:
                    break
    click.echo("Statistics rebuilt and comments scored.")


@analytics.command("train-sentiment")
@click.option(
    "--check", is_flag=True, help="Only verify that the shipped weights match a fresh training."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the weights (default: the package's sentiment_head.npz).",
)
def train_sentiment_cmd(check: bool, out: Path | None) -> None:
    """Train the sentiment and aspect heads on the comment corpus; print dev and test figures."""
    from analytics.comments import corpus, training
    from analytics.comments.sentiment import HEAD, MODEL_NAME
    from service.progress import progress

    examples = corpus.load()
    parts = corpus.split(examples)
    click.echo(
        f"corpus: {len(examples)} comments ("
        + ", ".join(f"{k} {len(v)}" for k, v in parts.items())
        + f"), fingerprint {corpus.fingerprint(examples)}"
    )
    n_embed = len(parts["train"]) + len(parts["dev"]) + len(training.anchor_seeds())
    with progress("embedding", n_embed) as p:
        weights = training.train(examples, step=p.advance)
    target = out or HEAD
    if check:
        if not target.exists():
            raise click.ClickException(f"{target} does not exist")
        diff = training.differences(training.read(target), weights)
        if diff:
            raise click.ClickException(
                f"{target} differs from a fresh training in: {', '.join(diff)}"
            )
        click.echo(f"{target.name} matches a fresh training ({MODEL_NAME}).")
    else:
        training.save(weights, target)
        click.echo(f"wrote {target} ({MODEL_NAME})")
    with progress("evaluating", 1) as p:
        figures = {k: training.evaluate(weights, parts[k]) for k in ("dev", "test")}
        p.advance()
    for name, r in figures.items():
        click.echo(training.summary(name, r))
