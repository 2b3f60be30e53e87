"""The ``minyi`` command line: serve, database, users, demo data, imports, audit."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

import click
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.config import get_settings
from service.db import make_engine, upgrade


def open_engine() -> Engine:
    """The configured database, migrated to the newest schema."""
    settings = get_settings()
    upgrade(settings.database_url)
    return make_engine(settings.database_url)


def fail(*messages: str, code: int = 1) -> NoReturn:
    """Print each message as ``error: ...`` on stderr and exit with the status code."""
    for m in messages:
        click.echo(f"error: {m}", err=True)
    sys.exit(code)


def fail_fields(errors: Iterable[Mapping[str, Any]], code: int = 1) -> NoReturn:
    """fail() with one line per bad field of a 422 (``loc: msg``)."""
    fail(*(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors), code=code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Minyi (民意): public feedback and reputation service."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Load the demo district into an empty database first.")
@click.option(
    "--demo-responses",
    default=20000,
    show_default=True,
    type=int,
    help="Survey responses for --demo.",
)
def serve(host: str, port: int, workers: int, demo: bool, demo_responses: int) -> None:
    """Serve the web app and API (migrations are applied first)."""
    import uvicorn

    engine = open_engine()
    if demo:
        from service.demo import build_demo, database_is_empty

        with Session(engine) as s:
            empty = database_is_empty(s)
        if empty:
            build_demo(engine, responses=demo_responses, seed=7)
        else:
            click.echo("Database already has data; --demo left it as it is.", err=True)
    engine.dispose()
    # Migrated once here; the workers must not race to migrate again.
    os.environ["MINYI_MIGRATE_ON_START"] = "false"
    click.echo(f"Minyi serving on http://{host}:{port}  (API docs: /docs)", err=True)
    uvicorn.run(
        "service.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
    )


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.argument("revision", default="heads")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: all heads)."""
    upgrade(get_settings().database_url, revision)
    click.echo("Database is up to date.")


@main.group()
def users() -> None:
    """Accounts."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(["admin", "evaluator", "deputy"]))
@click.option("--display-name", default="")
def users_create(username: str, role: str, display_name: str) -> None:
    """Create an account; the password is read from a prompt, or from stdin when piped."""
    from pydantic import ValidationError

    from service.errors import AppError
    from service.models import Role, UserCreate
    from service.users import create_user

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        data = UserCreate(
            username=username, role=Role(role), display_name=display_name, password=password
        )
    except ValidationError as exc:
        fail_fields(exc.errors(), code=2)
    engine = open_engine()
    with Session(engine) as s:
        try:
            user = create_user(s, data=data)
        except AppError as exc:
            fail(exc.message)
        s.commit()
        click.echo(f"Created {user.role} '{user.username}' (id {user.id}).")


@main.group()
def units() -> None:
    """Rated bodies and areas."""


@units.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def units_import(file: str) -> None:
    """Import units from a CSV (code, name, name_en, kind, parent_code); all or nothing."""
    from service.errors import Invalid
    from service.progress import progress
    from surveys.units.service import import_units, read_units_csv

    try:
        with open(file, encoding="utf-8") as fh:
            rows = read_units_csv(fh.read())
    except UnicodeDecodeError:
        fail("file: not UTF-8 text")
    except Invalid as exc:
        # A missing column is the file's fault, not a row's: named as `file`, not `body.file`.
        fail_fields({**e, "loc": [p for p in e["loc"] if p != "body"]} for e in exc.errors)
    engine = open_engine()
    with Session(engine) as s, progress("units", len(rows)) as p:
        try:
            n = import_units(s, rows=rows, progress=p.set)
        except Invalid as exc:
            fail_fields(exc.errors)
        s.commit()
    click.echo(f"Imported {n} units.")


@main.command()
@click.option(
    "--responses", default=20000, show_default=True, type=int, help="Survey responses to generate."
)
@click.option("--seed", default=7, show_default=True, type=int)
def demo(responses: int, seed: int) -> None:
    """Fill an empty database with a realistic demo district."""
    from service.demo import build_demo, database_is_empty

    engine = open_engine()
    with Session(engine) as s:
        if not database_is_empty(s):
            fail("the database already has data; demo data goes into an empty one.")
    build_demo(engine, responses=responses, seed=seed)


@main.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Check that no audit entry was edited, inserted or deleted."""
    from service.audit import verify

    engine = open_engine()
    with Session(engine) as s:
        result = verify(s)
    if result.ok:
        click.echo(
            f"Audit log intact: {result.checked} entries verified; newest hash {result.head}."
        )
    else:
        click.echo(f"Audit log BROKEN: {result.problem}", err=True)
        sys.exit(1)


@main.command("backup")
@click.argument("file", type=click.Path(dir_okay=False))
def backup_cmd(file: str) -> None:
    """Write an online, consistent backup of the database to FILE."""
    from pathlib import Path

    from service.backup import backup
    from service.progress import Progress

    url = get_settings().database_url
    bar: dict[str, Progress] = {}

    def _progress(done: int, total: int) -> None:
        if "p" not in bar:
            bar["p"] = Progress("pages", total)
        bar["p"].set(done)

    backup(url, Path(file), progress=_progress)
    if "p" in bar:
        bar["p"].close()
    click.echo(f"Backup written to {file}.")


@main.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Restore even if the target database has data.")
def restore_cmd(file: str, force: bool) -> None:
    """Restore a backup made by `minyi backup` into the (empty) database."""
    from pathlib import Path

    from service.backup import restore
    from service.errors import AppError

    try:
        restore(get_settings().database_url, Path(file), force=force)
    except AppError as exc:
        fail(exc.message)
    click.echo("Restored.")


def _register_domain_commands() -> None:
    # Domains add their own command groups (imports, exports, reports) here.
    import importlib

    for module in (
        "surveys.forms.cli",
        "surveys.voting.cli",
        "surveys.evaluation.cli",
        "analytics.cli",
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        mod.register(main)


_register_domain_commands()
