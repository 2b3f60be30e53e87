"""Command line for democratic evaluations: the spreadsheet import of subjects."""

from __future__ import annotations

from pathlib import Path

import click
from sqlmodel import Session

from service.cli import fail, fail_fields, open_engine


def register(main: click.Group) -> None:
    """Add the ``subjects`` command group."""
    main.add_command(subjects_group)


@click.group("subjects")
def subjects_group() -> None:
    """Leadership teams and leaders rated by democratic evaluations."""


@subjects_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check every row and write nothing.")
def subjects_import(file: str, dry_run: bool) -> None:
    """Load subjects from FILE (.xlsx or .csv: kind, name, post, unit_code, term_start, term_end);
    all rows or, when any is bad, none."""
    from service.errors import Invalid
    from surveys.evaluation import imports

    try:
        rows = imports.read_subjects_file(Path(file).read_bytes())
    except Invalid as exc:
        fail(f"{file}: {exc.errors[0]['msg']}")
    with Session(open_engine()) as s:
        try:
            result = imports.import_subjects(
                s, rows=rows, dry_run=dry_run, actor="cli", file=Path(file).name
            )
        except Invalid as exc:
            fail_fields(exc.errors)
        s.commit()
    for p in result.problems:
        click.echo(f"row {p.row}, {p.column}: {p.msg}")
    if dry_run:
        click.echo(f"{result.rows} rows fine, {len(result.problems)} problems; nothing written.")
    else:
        click.echo(f"Imported {result.imported} subjects.")
