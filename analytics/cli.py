"""``minyi analytics``: rebuild the statistics and column files, score comments, prune files."""

from __future__ import annotations

import os
from pathlib import Path

import click
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
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
@click.option(
    "--columns/--no-columns",
    default=True,
    show_default=True,
    help="Write the flexible views' column files.",
)
def rebuild_cmd(campaign_id: int | None, sentiment: bool, rescore: bool, columns: bool) -> None:
    """Recompute all statistics from the raw responses, write the column files, then score
    unscored comments."""
    from analytics.comments import scoring
    from analytics.comments.models import CommentScanMark, CommentSentiment
    from service.progress import progress
    from surveys.forms.models import SurveyResponse
    from surveys.forms.stats import rebuild

    engine = open_engine()
    with progress("statistics", 1) as p, engine.begin() as conn:
        rebuild(conn, campaign_id=campaign_id)
        p.advance()
    if columns:
        _build_columns(engine, campaign_id)
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


def _analytics_engine(engine: Engine) -> Engine:
    """The engine the analytics views read through: their column files are named after its
    address, so building or pruning them through another would miss them."""
    from service.config import get_settings
    from service.db import make_engine

    settings = get_settings()
    if settings.analytics_dir and not os.environ.get("MINYI_ANALYTICS_DIR"):
        # The column files follow the process environment (as the app's views do), not .env.
        click.echo(
            "warning: MINYI_ANALYTICS_DIR is set in .env only; the column files use "
            f"{settings.analytics_dir} only when it is in the environment",
            err=True,
        )
    url = settings.analytics_database_url
    return make_engine(url) if url else engine


def _build_columns(engine: Engine, campaign_id: int | None) -> None:
    from analytics.indicators import cube_files, cube_maintenance
    from service.cli import fail
    from service.progress import progress
    from surveys.forms.models import Campaign

    reader = _analytics_engine(engine)
    with Session(reader) as s:
        if campaign_id is not None and s.get(Campaign, campaign_id) is None:
            fail(f"campaign {campaign_id} does not exist")
        total = (
            1
            if campaign_id is not None
            else int(s.execute(select(func.count()).select_from(Campaign)).scalar_one())
        )
        s.rollback()
        with progress("column files", total) as p:
            built = cube_maintenance.build(s, campaign_id=campaign_id, step=p.advance)
    if reader is not engine:
        reader.dispose()
    for b in built:
        if b.directory is None:
            click.echo(f"campaign {b.campaign_id}: in memory only (an in-memory database)")
        elif b.written:
            click.echo(f"campaign {b.campaign_id}: wrote a generation up to response {b.after}")
        elif b.after:
            click.echo(
                f"campaign {b.campaign_id}: generation up to response {b.after} kept "
                f"(fewer than {cube_files.PERSIST_ROWS:,} responses since)"
            )
        else:
            # cube.refresh writes once the responses not yet in a file reach PERSIST_ROWS;
            # fewer are read from the database at a worker's start in milliseconds.
            click.echo(
                f"campaign {b.campaign_id}: no file needed "
                f"(fewer than {cube_files.PERSIST_ROWS:,} responses)"
            )


@analytics.command("prune")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
def prune_cmd(dry_run: bool) -> None:
    """Remove column files no view will read again: deleted campaigns', older generations."""
    from analytics.indicators import cube_maintenance

    engine = open_engine()
    reader = _analytics_engine(engine)
    with Session(reader) as s:
        pruned = cube_maintenance.prune(s, dry_run=dry_run)
    address = reader.url.render_as_string(hide_password=True)
    if reader is not engine:
        reader.dispose()
    if pruned.root is None:
        click.echo(f"{address} keeps its column files in memory: nothing to prune.")
        return
    click.echo(f"column files of {address} in {pruned.root}")
    verb = "would remove" if dry_run else "removed"
    for r in pruned.removed:
        click.echo(f"{verb} {r.path.relative_to(pruned.root)}: {r.reason} ({r.size:,} bytes)")
    for path, reason in pruned.kept:
        click.echo(f"kept {path.relative_to(pruned.root)}: {reason}")
    freed = "would free" if dry_run else "freed"
    click.echo(
        f"{verb} {len(pruned.removed)} directories, {freed} {pruned.freed:,} bytes "
        f"({pruned.freed / 1e6:.1f} MB)"
    )


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
        drift = training.embedding_drift(training.read(target))
        if drift > training.EMBEDDING_TOLERANCE:
            raise click.ClickException(
                f"cannot check {target.name} on this machine: its embedding engine gives other "
                f"numbers than where the weights were trained (up to {drift:.2g} on the anchor "
                "texts), so a fresh training here differs; `minyi analytics train-sentiment` "
                "trains weights for it"
            )
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
