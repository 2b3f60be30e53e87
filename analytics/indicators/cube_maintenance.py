"""Building and cleaning the flexible views' column files (``cube_files``) outside a request.

``build`` brings each campaign's columns up to date through ``cube.refresh``, the function
every view calls, so a deployment can write the first generation before the first view
instead of during it. ``prune`` removes what no view will map again: the directories of
campaigns that are gone from the database, and inside a campaign's directory everything but
the newest generation (older generations a writer could not remove, temporary directories of
a writer that died). Both work on the directory ``cube_files.root`` gives for the session's
database address, the same one the app's views use.

The layout read here is ``cube_files``': one directory per campaign named
``c<id>-<16 hex digits>`` (``campaign_dir``), holding a ``lock`` file that a writer holds with
an exclusive ``flock`` while it writes, and one subdirectory per generation or unfinished write.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL
from sqlmodel import Session, col, select

from analytics.indicators import cube, cube_files
from surveys.forms.models import Campaign

_CAMPAIGN_DIR = re.compile(r"c(\d+)-[0-9a-f]{16}")


@dataclass
class Built:
    """What ``build`` did for one campaign."""

    campaign_id: int
    directory: Path | None  # None: this database keeps its columns in memory only
    before: int  # watermark of the newest generation before (0: none)
    after: int  # and after

    @property
    def written(self) -> bool:
        return self.after > self.before


@dataclass
class Removal:
    """A directory ``prune`` removed (or would remove)."""

    path: Path
    size: int  # bytes of its files
    reason: str


@dataclass
class Pruned:
    """What ``prune`` found under the columns' root."""

    root: Path | None
    removed: list[Removal] = field(default_factory=list)
    kept: list[tuple[Path, str]] = field(default_factory=list)  # left alone, with the reason

    @property
    def freed(self) -> int:
        return sum(r.size for r in self.removed)


def _url(session: Session) -> URL:
    return session.get_bind().engine.url


def campaign_files(session: Session, campaign: Campaign) -> Path | None:
    """The campaign's directory of generations, named as ``cube`` names it for the views."""
    url = _url(session)
    base = cube_files.root(url)
    if base is None or campaign.id is None:
        return None
    return cube_files.campaign_dir(base, url, campaign.id, str(campaign.created_at))


def build(
    session: Session,
    *,
    campaign_id: int | None = None,
    step: Callable[[int], None] = lambda n: None,
) -> list[Built]:
    """Bring every campaign's columns (or one's) up to date; ``step(1)`` after each."""
    stmt = select(Campaign).order_by(col(Campaign.id))
    if campaign_id is not None:
        stmt = stmt.where(col(Campaign.id) == campaign_id)
    todo = [(c.id, campaign_files(session, c)) for c in session.exec(stmt) if c.id is not None]
    done = []
    for cid, where in todo:
        before = cube_files.newest_watermark(where) if where else 0
        cube.refresh(session, campaign_id=cid)
        # The columns stay in the files; holding every campaign's in this process as well
        # would only grow it.
        cube.forget(cid)
        session.rollback()  # end the read transaction between campaigns
        after = cube_files.newest_watermark(where) if where else 0
        done.append(Built(cid, where, before, after))
        step(1)
    return done


def _size(path: Path) -> int:
    total = 0
    for top, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(top, name)).st_size
    return total


def _remove(path: Path, reason: str, dry_run: bool, out: Pruned) -> None:
    size = _size(path)
    if not dry_run:
        shutil.rmtree(path, ignore_errors=True)
    out.removed.append(Removal(path, size, reason))


def _dedicated(url: URL) -> bool:
    """Whether the root holds this database's files only: set by MINYI_ANALYTICS_DIR (read as
    ``cube_files.root`` reads it) or beside a SQLite file, not the temporary directory that
    every PostgreSQL database of the host shares by default."""
    return bool(os.environ.get("MINYI_ANALYTICS_DIR")) or url.get_backend_name() == "sqlite"


def prune(session: Session, *, dry_run: bool = False) -> Pruned:
    """Remove column files no view will map again; with ``dry_run``, only say which."""
    url = _url(session)
    base = cube_files.root(url)
    out = Pruned(base)
    if base is None or not base.is_dir():
        return out
    expected: dict[int, Path] = {}
    for campaign in session.exec(select(Campaign)):
        where = campaign_files(session, campaign)
        if campaign.id is not None and where is not None:
            expected[campaign.id] = where
    session.rollback()
    dedicated = _dedicated(url)
    for path in sorted(base.iterdir()):
        match = _CAMPAIGN_DIR.fullmatch(path.name)
        if match is None or not path.is_dir():
            continue
        cid = int(match.group(1))
        mine = expected.get(cid)
        if mine == path:
            _prune_generations(path, dry_run, out)
        elif not dedicated:
            out.kept.append((path, "in the temporary directory every database shares"))
        elif mine is None:
            _prune_campaign(path, f"campaign {cid} no longer exists", dry_run, out)
        elif mine.is_dir():
            _prune_campaign(path, f"an earlier campaign {cid} (the id was reused)", dry_run, out)
        else:
            # Campaign cid has no files under this address, so these may be the app's own,
            # written under another spelling of the database address: keep them.
            out.kept.append((path, f"campaign {cid} under another database address"))
    return out


def _prune_campaign(path: Path, reason: str, dry_run: bool, out: Pruned) -> None:
    with cube_files.writer_lock(path, create=False) as free:
        if free:
            _remove(path, reason, dry_run, out)
        else:
            out.kept.append((path, "a generation is being written"))


def _prune_generations(path: Path, dry_run: bool, out: Pruned) -> None:
    """Every subdirectory but the newest readable generation: under the writer's lock no
    write is under way, so the rest are older generations or a dead writer's leftovers."""
    with cube_files.writer_lock(path, create=False) as free:
        if not free:
            out.kept.append((path, "a generation is being written"))
            return
        newest = cube_files.open_newest(path)
        keep = newest.path if newest is not None else None
        for sub in sorted(p for p in path.iterdir() if p.is_dir() and p != keep):
            reason = "an older generation" if keep else "no readable generation"
            if sub.name.startswith("."):
                reason = "an unfinished write"
            _remove(sub, reason, dry_run, out)
