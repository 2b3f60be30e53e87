"""Command line for the vote: Pabulib import and check, recount, export."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from sqlmodel import Session

from service.cli import fail, fail_fields, open_engine


def register(main: click.Group) -> None:
    """Add the ``pabulib`` and ``voting`` command groups."""
    main.add_command(pabulib_group)
    main.add_command(voting_group)


@click.group("pabulib")
def pabulib_group() -> None:
    """Participatory-budgeting elections in the public Pabulib format."""


@pabulib_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def pabulib_import(file: str) -> None:
    """Load FILE.pb as a closed session with the instance's own rule (greedy family)."""
    from service.errors import Invalid
    from service.progress import progress
    from surveys.voting import pabulib
    from surveys.voting.schemas import SelectionResult, parse_result

    try:
        election = pabulib.parse(Path(file).read_text(encoding="utf-8"))
    except pabulib.PabulibError as exc:
        fail(f"{file}: {exc}")
    engine = open_engine()
    with Session(engine) as s, progress("ballots", len(election.votes)) as p:
        try:
            vs = pabulib.import_pabulib(s, election=election, actor="cli", progress=p.set)
        except Invalid as exc:
            fail_fields(exc.errors)
        s.commit()
        result = parse_result(vs.result or {})
        sid = vs.id
    names = {p.project_id: p for p in election.projects}
    assert isinstance(result, SelectionResult)
    ours = [r.project_id for r in result.projects if r.selected]
    # Map our project ids back to the file's ids, in file order.
    slate = [int(x["project_id"]) for x in (vs.frozen_config or {}).get("projects", [])]
    back = dict(zip(slate, [p.project_id for p in election.projects], strict=True))
    chosen = {back[i] for i in ours}
    published = {p.project_id for p in election.projects if p.selected == 1}
    click.echo(
        f"Imported session {sid}: {len(election.projects)} projects, {len(election.votes)} ballots, "
        f"rule {election.rule}."
    )
    click.echo(f"Minyi selects {len(chosen)} projects: {', '.join(sorted(chosen))}")
    if chosen == published:
        click.echo("This equals the file's selected projects.")
    else:
        extra = sorted(chosen - published)
        missing = sorted(published - chosen)
        click.echo(f"Differs from the file: extra {extra}, missing {missing}", err=True)
        for pid in extra + missing:
            click.echo(f"  {pid}: {names[pid].name[:60]}", err=True)
        sys.exit(2)


@pabulib_group.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def pabulib_check(files: tuple[str, ...]) -> None:
    """Compare each file's published selection with Minyi's rules (no database needed).

    Greedy-family files are counted with their own rule; every file also gets the Method of
    Equal Shares with integral "add one" completion and the comparison step.
    """
    from surveys.voting import pabulib, rules
    from surveys.voting.equal_shares import equal_shares

    failed = False
    for file in files:
        e = pabulib.parse(Path(file).read_text(encoding="utf-8"))
        counts = e.approvals()
        published = {p.project_id for p in e.projects if p.selected == 1}
        click.echo(
            f"{Path(file).name}: rule {e.rule}, {len(e.projects)} projects, {len(e.votes)} voters, budget {e.budget:,}"
        )
        cands = [
            rules.Candidate(p.project_id, p.cost, counts[p.project_id], position=i)
            for i, p in enumerate(e.projects)
        ]
        n = len(e.votes)
        if e.rule in pabulib.GREEDY_RULES:
            sel = set(rules.select(cands, e.rule_config(), electorate=n, cast=n).selected_ids())
            ok = sel == published
            failed |= not ok
            click.echo(
                f"  {e.rule}: {'matches' if ok else 'DIFFERS from'} the file ({len(sel)} projects)"
            )
        else:
            plain = rules.RuleConfig(
                budget=e.budget, threshold=rules.Threshold(rules.ThresholdKind.none)
            )
            sel = set(rules.select(cands, plain, electorate=n, cast=n).selected_ids())
            click.echo(
                f"  plain greedy (not this file's rule): {len(sel)} projects, "
                f"{'matches' if sel == published else f'differs by {len(sel ^ published)} projects from'} the file"
            )
        started = time.monotonic()
        mes = equal_shares({p.project_id: p.cost for p in e.projects}, e.votes, e.budget)
        took = time.monotonic() - started
        same = set(mes.selected) == published
        if e.rule.startswith("equalshares"):
            failed |= not same
        click.echo(
            f"  Equal Shares (add one, comparison): {'matches' if same else 'differs from'} the file; "
            f"{len(mes.selected)} projects, {mes.per_voter_budget} per voter, {mes.runs} MES runs, "
            f"{took:.1f}s"
            + (
                f"; greedy preferred by {mes.prefer_greedy} vs {mes.prefer_mes}"
                if mes.used_greedy
                else ""
            )
        )
        if not same and not e.rule.startswith("equalshares"):
            click.echo(
                f"    (not this file's rule; differs by {len(set(mes.selected) ^ published)} projects)"
            )
    if failed:
        sys.exit(1)


@click.group("voting")
def voting_group() -> None:
    """Voting sessions: recount, export, storage scrub."""


@voting_group.command("recount")
@click.argument("session_id", type=int)
def voting_recount(session_id: int) -> None:
    """Count a closed session again from its stored ballots and compare with the kept result."""
    from surveys.voting import results
    from surveys.voting.models import VotingSession

    engine = open_engine()
    with Session(engine) as s:
        vs = s.get(VotingSession, session_id)
        if vs is None or vs.result is None:
            fail("no counted session with this id")
        ok, fresh = results.recount(s, vs=vs)
    if ok:
        click.echo(f"Recount of session {session_id}: {fresh.cast} ballots, same result.")
    else:
        click.echo(f"Recount of session {session_id} DIFFERS from the kept result.", err=True)
        sys.exit(1)


@voting_group.command("export")
@click.argument("session_id", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File (default: stdout).")
def voting_export(session_id: int, output: str | None) -> None:
    """Write a closed selection session as a Pabulib .pb file (no deputy identities)."""
    from service.errors import AppError
    from service.models import Role, User
    from surveys.voting import pabulib
    from surveys.voting.models import VotingSession

    engine = open_engine()
    with Session(engine) as s:
        vs = s.get(VotingSession, session_id)
        if vs is None:
            fail("no session with this id")
        try:
            text = pabulib.export_pabulib(
                s, vs=vs, user=User(username="cli", role=Role.admin, password_hash="")
            )
        except AppError as exc:
            fail(exc.message)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}.", err=True)
    else:
        click.echo(text, nl=False)


@voting_group.command("scrub")
def voting_scrub() -> None:
    """Overwrite old copies of vote rows (what closing does after it commits), e.g. if that failed."""
    from surveys.voting.storage import scrub_ballot_storage

    scrub_ballot_storage(open_engine())
    click.echo(
        "Vote storage scrubbed: no deleted ballot or voter row is left in the database files."
    )
