"""`minyi pabulib import/check` and `minyi voting recount/export`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from sqlmodel import Session, select

from service.cli import main
from service.config import get_settings
from surveys.voting import pabulib
from surveys.voting.models import VotingSession
from tests.surveys.voting.test_pabulib import DATA, GREEDY_FILES


@pytest.fixture
def cli(app: FastAPI, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("MINYI_DATABASE_URL", database_url)
    monkeypatch.setenv("MINYI_SECRET_KEY", "cli-test-secret-0123456789abcdef")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_import_keeps_the_file_rule_then_recount_and_export(
    app: FastAPI, cli: CliRunner, tmp_path: Path
) -> None:
    from pabulib.checker import Checker

    path = DATA / "Poland_Lodz_2024_Nr_33.pb"  # greedy-threshold, 664 voters
    r = cli.invoke(main, ["pabulib", "import", str(path)])
    assert r.exit_code == 0, r.output
    assert "This equals the file's selected projects." in r.output
    with Session(app.state.engine) as s:
        vs = s.exec(select(VotingSession)).one()
        assert vs.state == "closed" and vs.result is not None
        assert vs.result["cast"] == 664 and vs.result["threshold"] == {"min_votes": 50}
        sid = vs.id
    r = cli.invoke(main, ["voting", "recount", str(sid)])
    assert r.exit_code == 0 and "same result" in r.output, r.output
    out = tmp_path / "again.pb"
    r = cli.invoke(main, ["voting", "export", str(sid), "-o", str(out)])
    assert r.exit_code == 0, r.output
    again = pabulib.parse(out.read_text(encoding="utf-8"))
    original = pabulib.parse(path.read_text(encoding="utf-8"))
    assert (
        again.meta["rule"] == "greedy-threshold"
        and again.meta["min_project_score_threshold"] == "50"
    )
    assert sorted(p.cost for p in again.projects) == sorted(p.cost for p in original.projects)
    assert sorted(map(len, again.votes)) == sorted(map(len, original.votes))
    report = Checker().process_files([out.read_text(encoding="utf-8")])
    assert report["metadata"]["valid"] == 1, report
    assert cli.invoke(main, ["voting", "recount", "999"]).exit_code == 1


def test_import_refuses_rules_it_does_not_model(cli: CliRunner, tmp_path: Path) -> None:
    r = cli.invoke(main, ["pabulib", "import", str(DATA / "Poland_Wieliczka_2023_Green_Budget.pb")])
    assert r.exit_code == 1 and "equalshares/add1-comparison" in r.output
    bad = tmp_path / "bad.pb"
    bad.write_text("META\nkey;value\nbudget;1\nPROJECTS\nproject_id;cost\n1;x\n", encoding="utf-8")
    r = cli.invoke(main, ["pabulib", "import", str(bad)])
    assert r.exit_code == 1 and "not a number" in r.output


def test_check_reports_every_file() -> None:
    files = [str(DATA / name) for name in GREEDY_FILES[:2]]
    r = CliRunner().invoke(main, ["pabulib", "check", *files])
    assert r.exit_code == 0, r.output
    assert r.output.count("matches the file") >= 2


def test_scrub_rewrites_the_vote_tables_files(app: FastAPI, cli: CliRunner) -> None:
    """`minyi voting scrub` (what closing runs after commit): PostgreSQL's vote tables get new
    files (VACUUM FULL), SQLite's write-ahead log is emptied (checkpoint, VACUUM, checkpoint)."""
    from sqlalchemy import text

    engine = app.state.engine
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            query = text(
                "SELECT relname, relfilenode FROM pg_class WHERE relname IN"
                " ('voting_ballot', 'voting_ballot_mark', 'voting_voter')"
            )
            before = {str(n): int(f) for n, f in conn.execute(query)}
        else:
            conn.execute(text("CREATE TABLE scrub_probe (x TEXT)"))  # something in the log
            conn.execute(text("DROP TABLE scrub_probe"))
            conn.commit()
    r = cli.invoke(main, ["voting", "scrub"])
    assert r.exit_code == 0 and "scrubbed" in r.output, r.output
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            after = {str(n): int(f) for n, f in conn.execute(query)}
            assert len(before) == 3 and all(after[t] != before[t] for t in before), after
        else:
            wal = Path(str(engine.url.database) + "-wal")
            assert not wal.exists() or wal.stat().st_size == 0
