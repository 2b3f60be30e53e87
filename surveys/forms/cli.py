"""Command line for surveys: questionnaires (XLSForm), campaigns, invitations, responses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from sqlmodel import Session

from service.cli import fail, fail_fields, open_engine

CLI_ACTOR = "cli"


def _campaign(s: Session, campaign_id: int) -> Any:
    from surveys.forms.models import Campaign

    campaign = s.get(Campaign, campaign_id)
    if campaign is None:
        fail(f"no campaign {campaign_id}")
    return campaign


def register(main: click.Group) -> None:
    """Add the surveys, campaigns, invitations and responses command groups."""

    @main.group()
    def surveys() -> None:
        """Questionnaires."""

    @surveys.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    def surveys_import(file: str) -> None:
        """Create a questionnaire from an XLSForm workbook; every bad row is reported."""
        from service import audit
        from service.errors import Invalid
        from surveys.forms.service import create_survey
        from surveys.forms.xlsform import import_xlsform

        try:
            data = import_xlsform(Path(file).read_bytes())
        except Invalid as exc:
            fail_fields(exc.errors)
        with Session(open_engine()) as s:
            survey = create_survey(s, data=data)
            audit.record(
                s, actor=CLI_ACTOR, action="survey.import", target=str(survey.id), file=file
            )
            s.commit()
            click.echo(f"Imported questionnaire {survey.id} ({len(data.questions)} questions).")

    @surveys.command("export")
    @click.argument("survey_id", type=int)
    @click.argument("file", type=click.Path(dir_okay=False))
    def surveys_export(survey_id: int, file: str) -> None:
        """Write a questionnaire as an XLSForm workbook."""
        from surveys.forms.models import Survey
        from surveys.forms.service import questions_of
        from surveys.forms.xlsform import export_xlsform

        with Session(open_engine()) as s:
            survey = s.get(Survey, survey_id)
            if survey is None:
                fail(f"no questionnaire {survey_id}")
            Path(file).write_bytes(export_xlsform(survey, questions_of(s, survey_id=survey_id)))
        click.echo(f"Wrote {file}.")

    @main.group()
    def campaigns() -> None:
        """Survey campaigns."""

    @campaigns.command("list")
    def campaigns_list() -> None:
        """Campaigns with their window and response counts."""
        from surveys.forms.service import list_campaigns

        with Session(open_engine()) as s:
            for c in list_campaigns(s):
                click.echo(
                    f"{c.id}\t{c.status}\t{c.access.value}\t{c.response_count} responses"
                    f" ({c.flagged_count} flagged)\t{c.opens_at:%Y-%m-%d} .. {c.closes_at:%Y-%m-%d}\t{c.title}"
                )

    @campaigns.command("purge")
    @click.argument("campaign_id", type=int, required=False)
    def campaigns_purge(campaign_id: int | None) -> None:
        """Delete abuse-detection data of closed campaigns (all, or the one given)."""
        from surveys.forms.service import purge_and_record

        with Session(open_engine()) as s:
            ids = purge_and_record(s, actor=CLI_ACTOR, campaign_id=campaign_id)
            s.commit()
        if ids:
            click.echo("Purged abuse data of campaign(s) " + ", ".join(map(str, ids)) + ".")
        else:
            click.echo("Nothing to purge (no closed campaign with abuse data left).")

    @main.group()
    def invitations() -> None:
        """One-time invitation codes."""

    @invitations.command("create")
    @click.argument("campaign_id", type=int)
    @click.option("--count", required=True, type=click.IntRange(1, 100_000))
    def invitations_create(campaign_id: int, count: int) -> None:
        """Create codes and print them, one a line (they are not stored in the clear)."""
        from service import audit
        from service.config import get_settings
        from service.errors import AppError
        from surveys.forms.service import create_invitations

        with Session(open_engine()) as s:
            try:
                codes = create_invitations(
                    s,
                    campaign=_campaign(s, campaign_id),
                    count=count,
                    secret=get_settings().secret_key or "",
                    time_zone=get_settings().time_zone,
                )
            except AppError as exc:
                fail(exc.message)
            audit.record(
                s, actor=CLI_ACTOR, action="invitation.create", target=str(campaign_id), count=count
            )
            s.commit()
        click.echo("\n".join(codes))

    @main.group()
    def responses() -> None:
        """Survey responses: imports and exports."""

    @responses.command("import")
    @click.argument("campaign_id", type=int)
    @click.argument("file", type=click.Path(exists=True, dir_okay=False))
    def responses_import(campaign_id: int, file: str) -> None:
        """Import responses from a JSON array or a CSV file, all or nothing."""
        from service import audit
        from service.config import get_settings
        from service.errors import AppError, Invalid
        from service.progress import progress
        from surveys.forms.imports import import_responses, rows_from_upload

        data = Path(file).read_bytes()
        with Session(open_engine()) as s:
            campaign = _campaign(s, campaign_id)
            try:
                rows, first = rows_from_upload(s, campaign, data, filename=file)
                with progress("responses", len(rows)) as p:
                    n = import_responses(
                        s,
                        campaign=campaign,
                        rows=rows,
                        secret=get_settings().secret_key or "",
                        first_row=first,
                        progress=p.set,
                    )
            except Invalid as exc:
                fail_fields(exc.errors)
            except AppError as exc:
                fail(exc.message)
            audit.record(
                s, actor=CLI_ACTOR, action="responses.import", target=str(campaign_id), rows=n
            )
            s.commit()
        click.echo(f"Imported {n} responses.")

    @responses.command("export")
    @click.argument("campaign_id", type=int)
    @click.option(
        "--format", "fmt", type=click.Choice(["csv", "xlsx", "json", "sav", "dta"]), default="csv"
    )
    @click.option("--flagged", type=click.Choice(["include", "exclude", "only"]), default="include")
    @click.option("--out", required=True, type=click.Path(dir_okay=False))
    def responses_export(campaign_id: int, fmt: str, flagged: str, out: str) -> None:
        """Write a campaign's responses (codebook in XLSX and JSON, labels in SAV and DTA)."""
        from service import audit
        from service.config import get_settings
        from surveys.forms import exports
        from surveys.forms.service import questions_of

        engine = open_engine()
        with Session(engine) as s:
            campaign = _campaign(s, campaign_id)
            questions = questions_of(s, survey_id=campaign.survey_id)
            secret = get_settings().secret_key or ""
            body, _media, _name = exports.build(
                engine, campaign, questions, fmt=fmt, flagged=flagged, secret=secret
            )
            rows = exports.count_rows(engine, campaign_id, flagged)
            with open(out, "wb") as fh:
                if isinstance(body, bytes):
                    fh.write(body)
                else:
                    for chunk in body:
                        fh.write(chunk)
            audit.record(
                s,
                actor=CLI_ACTOR,
                action="responses.export",
                target=str(campaign_id),
                format=fmt,
                flagged=flagged,
                rows=rows,
            )
            s.commit()
        click.echo(f"Wrote {rows} responses to {out}.")
