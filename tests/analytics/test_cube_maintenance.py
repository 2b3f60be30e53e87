"""Building the column files before the first view, and pruning the ones no view maps again
(`minyi analytics rebuild`, `minyi analytics prune`)."""

from __future__ import annotations

import fcntl
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from sqlmodel import Session

from analytics.indicators import cube, cube_files, cube_maintenance
from service.cli import main
from service.config import Settings, get_settings
from surveys.forms.models import Campaign
from tests.synthetic import Synthetic, add_responses


@pytest.fixture(autouse=True)
def _files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    where = tmp_path / "columns"
    monkeypatch.setenv("MINYI_ANALYTICS_DIR", str(where))
    monkeypatch.setattr(cube_files, "PERSIST_ROWS", 500)
    cube.forget()
    yield where
    cube.forget()


def _bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _dir(session: Session, syn: Synthetic) -> Path:
    campaign = session.get(Campaign, syn.campaign_id)
    assert campaign is not None
    where = cube_maintenance.campaign_files(session, campaign)
    assert where is not None
    return where


def test_build_writes_the_generation_the_views_then_map(
    app: FastAPI, session: Session, synthetic: Callable[..., Synthetic]
) -> None:
    big = synthetic(n=700, units=3, areas=2, seed=3)
    small = synthetic(n=60, units=2, areas=1, seed=4)
    steps: list[int] = []
    built = {b.campaign_id: b for b in cube_maintenance.build(session, step=steps.append)}
    assert steps == [1, 1]
    assert built[big.campaign_id].written and built[big.campaign_id].before == 0
    assert not built[small.campaign_id].written  # below PERSIST_ROWS: read at a start
    assert built[big.campaign_id].directory == _dir(session, big)
    # A view (a fresh worker) maps what the build wrote: the same directory, nothing re-read.
    mapped = cube.refresh(session, campaign_id=big.campaign_id)
    assert mapped.files == built[big.campaign_id].directory
    assert mapped.base is not None and mapped.base.size == 700 and mapped.size == 0
    cube.forget()
    # Once built, a second build has nothing to write; new responses past the threshold do.
    again = cube_maintenance.build(session, campaign_id=big.campaign_id)
    assert [b.written for b in again] == [False]
    add_responses(app.state.engine, big, n=520, seed=5)
    session.rollback()
    (last,) = cube_maintenance.build(session, campaign_id=big.campaign_id)
    assert last.written and last.after > last.before == built[big.campaign_id].after
    assert last.directory is not None and len(list(last.directory.glob("gen-*"))) == 1
    assert cube_maintenance.prune(session).removed == []


def test_prune_removes_deleted_campaigns_older_generations_and_dead_writes(
    session: Session, synthetic: Callable[..., Synthetic], _files: Path
) -> None:
    syn = synthetic(n=600, units=3, areas=2, seed=7)
    cube_maintenance.build(session)
    mine = _dir(session, syn)
    (newest,) = mine.glob("gen-*")
    older = mine / "gen-1"
    shutil.copytree(newest, older)  # a generation its writer could not remove
    dead = mine / ".tmp-dead"
    shutil.copytree(newest, dead)  # a writer killed before its rename
    gone = _files / "c999999-0123456789abcdef"  # a campaign deleted since
    shutil.copytree(newest, gone / "gen-5")
    reused = _files / f"c{syn.campaign_id}-fedcba9876543210"  # its id's earlier campaign
    shutil.copytree(newest, reused / "gen-5")
    other = _files / "not-a-campaign"  # not cube_files' layout: never touched
    other.mkdir()
    sizes = {p: _bytes(p) for p in (older, dead, gone, reused)}

    dry = cube_maintenance.prune(session, dry_run=True)
    assert {r.path for r in dry.removed} == set(sizes)
    assert dry.freed == sum(sizes.values()) > 0
    assert all(p.exists() for p in sizes)

    done = cube_maintenance.prune(session)
    assert {r.path: r.size for r in done.removed} == sizes
    assert not any(p.exists() for p in sizes)
    assert newest.is_dir() and other.is_dir() and done.kept == []
    mapped = cube.refresh(session, campaign_id=syn.campaign_id)
    assert mapped.base is not None and mapped.base.path == newest


def test_prune_keeps_what_it_cannot_tell_is_stale(
    session: Session, synthetic: Callable[..., Synthetic], _files: Path
) -> None:
    syn = synthetic(n=40, units=2, areas=1, seed=9)
    busy = _files / "c999998-0123456789abcdef"
    (busy / "gen-3").mkdir(parents=True)
    # Campaign syn has no files under this address: these may be the app's own, written
    # under another spelling of the database address.
    elsewhere = _files / f"c{syn.campaign_id}-fedcba9876543210"
    (elsewhere / "gen-3").mkdir(parents=True)
    with open(busy / "lock", "a+b") as writer:
        fcntl.flock(writer, fcntl.LOCK_EX | fcntl.LOCK_NB)
        pruned = cube_maintenance.prune(session)
    assert pruned.removed == []
    assert dict(pruned.kept) == {
        busy: "a generation is being written",
        elsewhere: f"campaign {syn.campaign_id} under another database address",
    }


def test_the_shared_temporary_directory_loses_only_stale_generations(
    session: Session,
    synthetic: Callable[..., Synthetic],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("a SQLite database keeps its files beside it, never in the shared directory")
    monkeypatch.delenv("MINYI_ANALYTICS_DIR")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    syn = synthetic(n=600, units=3, areas=2, seed=11)
    cube_maintenance.build(session)
    mine = _dir(session, syn)
    assert mine.parent == tmp_path / "tmp" / "minyi-analytics"
    (newest,) = mine.glob("gen-*")
    shutil.copytree(newest, mine / "gen-1")
    theirs = mine.parent / "c999999-0123456789abcdef"  # maybe another database's
    shutil.copytree(newest, theirs / "gen-5")
    pruned = cube_maintenance.prune(session)
    assert [r.path for r in pruned.removed] == [mine / "gen-1"]
    assert [p for p, _ in pruned.kept] == [theirs] and theirs.is_dir()


def _cli(database_url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("MINYI_DATABASE_URL", database_url)
    monkeypatch.setenv("MINYI_SECRET_KEY", "cli-test-secret-0123456789abcdef")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["analytics", *args])
    finally:
        get_settings.cache_clear()
    return result.exit_code, result.output


def test_the_commands(
    session: Session,
    synthetic: Callable[..., Synthetic],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    _files: Path,
) -> None:
    big = synthetic(n=650, units=3, areas=2, seed=13)
    small = synthetic(n=30, units=2, areas=1, seed=14)
    code, out = _cli(database_url, monkeypatch, "rebuild", "--no-sentiment")
    assert code == 0, out
    assert f"campaign {big.campaign_id}: wrote a generation up to response" in out
    assert f"campaign {small.campaign_id}: no file needed (fewer than 500 responses)" in out
    code, out = _cli(
        database_url, monkeypatch, "rebuild", "--no-sentiment", "--campaign", str(big.campaign_id)
    )
    assert code == 0, out
    assert f"campaign {big.campaign_id}: generation up to response" in out
    assert "kept (fewer than 500 responses since)" in out
    code, out = _cli(database_url, monkeypatch, "rebuild", "--no-sentiment", "--campaign", "0")
    assert code == 1 and "campaign 0 does not exist" in out

    mine = _dir(session, big)
    (newest,) = mine.glob("gen-*")
    shutil.copytree(newest, mine / "gen-1")
    size = _bytes(mine / "gen-1")
    code, out = _cli(database_url, monkeypatch, "prune", "--dry-run")
    assert code == 0, out
    assert f"would remove {mine.name}/gen-1: an older generation ({size:,} bytes)" in out
    assert f"would remove 1 directories, would free {size:,} bytes" in out
    assert (mine / "gen-1").is_dir()
    code, out = _cli(database_url, monkeypatch, "prune")
    assert code == 0 and f"removed 1 directories, freed {size:,} bytes" in out
    assert not (mine / "gen-1").exists() and newest.is_dir()
    assert f"column files of {session.get_bind().engine.url.render_as_string()}" in out


def test_the_setting_reads_the_same_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINYI_ANALYTICS_DIR", "/srv/minyi/columns")
    assert Settings(secret_key="x" * 40).analytics_dir == Path("/srv/minyi/columns")
    monkeypatch.setenv("MINYI_ANALYTICS_DIR", "")
    assert Settings(secret_key="x" * 40).analytics_dir is None  # as cube_files reads it


def test_a_setting_in_dot_env_only_is_named(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The column files follow the process environment, as the app's views do; a value the
    # command's Settings found only in .env would build files where no view looks.
    monkeypatch.delenv("MINYI_ANALYTICS_DIR")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"MINYI_ANALYTICS_DIR={tmp_path / 'elsewhere'}\n")
    code, out = _cli(database_url, monkeypatch, "prune", "--dry-run")
    assert code == 0, out
    assert "warning: MINYI_ANALYTICS_DIR is set in .env only" in out
