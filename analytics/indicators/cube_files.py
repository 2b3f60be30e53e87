"""The columnar copy's files: generations of a campaign's columns that every worker maps.

A generation is a directory of ``.npy`` files (one per column, the integer codes
``cube._Cube`` counts from) and a ``manifest.json`` (the highest response id it holds, the
question keys and the value behind each code). Processes open the newest generation
read-only with ``mmap``, so the pages are shared through the operating system's cache instead
of copied into each worker, and a restarted worker answers after reading only the responses
stored since. Generations are immutable: a process whose in-memory tail of new responses has
reached ``PERSIST_ROWS`` writes the next one under an exclusive file lock (one writer at a
time; the others keep their tails and skip), into a temporary directory renamed into place, so
a reader never sees a half-written generation. Older generations are removed afterwards;
processes still mapping them keep their pages until they move on (unlinked files stay
readable on POSIX).

Where: ``MINYI_ANALYTICS_DIR`` when set; otherwise beside a SQLite database file
(``minyi.db.columns/``) and, for PostgreSQL, under the system's temporary directory. An
in-memory SQLite database keeps its copy in the process only.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import URL

# A tail this long (responses read from the database since the newest generation) is
# written out as the next generation; below it, a restart re-reads the tail (milliseconds).
PERSIST_ROWS = 5_000
_PREFIX = "gen-"


@dataclass
class Generation:
    """One immutable generation, mapped read-only."""

    path: Path
    watermark: int
    keys: list[str]
    tables: dict[str, list[Any]]
    cols: dict[str, np.ndarray]
    answers: dict[str, np.ndarray]

    @property
    def size(self) -> int:
        return len(self.cols["rid"])


def root(url: URL) -> Path | None:
    """The directory holding this database's generations (None: keep them in memory)."""
    configured = os.environ.get("MINYI_ANALYTICS_DIR")
    if configured:
        return Path(configured)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            return None
        return Path(url.database + ".columns")
    return Path(tempfile.gettempdir()) / "minyi-analytics"


def campaign_dir(base: Path, url: URL, campaign_id: int, created_at: str) -> Path:
    """The campaign's directory; keyed like the in-process copy (database, id, creation)."""
    ident = f"{url.render_as_string(hide_password=True)}|{campaign_id}|{created_at}"
    return base / f"c{campaign_id}-{hashlib.sha256(ident.encode()).hexdigest()[:16]}"


def _generations(directory: Path) -> list[tuple[int, Path]]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if name.startswith(_PREFIX) and name[len(_PREFIX) :].isdigit():
            found.append((int(name[len(_PREFIX) :]), directory / name))
    return sorted(found)


def newest_watermark(directory: Path) -> int:
    """The highest response id of the newest generation (0: none); one directory listing."""
    gens = _generations(directory)
    return gens[-1][0] if gens else 0


def open_newest(directory: Path) -> Generation | None:
    """The newest complete generation, mapped read-only (None if none can be read)."""
    for watermark, path in reversed(_generations(directory)):
        try:
            manifest = json.loads((path / "manifest.json").read_text())
            cols = {
                name: np.asarray(np.load(path / f"{name}.npy", mmap_mode="r"))
                for name in manifest["columns"]
            }
            answers = {
                key: np.asarray(np.load(path / f"a{i}.npy", mmap_mode="r"))
                for i, key in enumerate(manifest["keys"])
            }
        except (OSError, ValueError, KeyError):
            continue  # removed by a newer writer between listing and opening
        return Generation(path, watermark, manifest["keys"], manifest["tables"], cols, answers)
    return None


@contextlib.contextmanager
def writer_lock(directory: Path, *, create: bool = True) -> Iterator[bool]:
    """The campaign directory's writer lock, not waited for (False: another process holds it,
    or, with ``create=False``, the directory cannot be opened)."""
    try:
        if create:
            directory.mkdir(parents=True, exist_ok=True)
        fh = open(directory / "lock", "a+b")  # noqa: SIM115 - closed below
    except OSError:
        if create:
            raise
        yield False
        return
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write(
    directory: Path,
    *,
    watermark: int,
    keys: list[str],
    tables: dict[str, list[Any]],
    cols: Mapping[str, np.ndarray],
    answers: Mapping[str, np.ndarray],
    base: Generation | None = None,
) -> bool:
    """Write the next generation unless another process is writing or wrote a newer one: the
    columns, or with ``base`` the base generation's columns followed by these (its tail).

    A base column is copied from its file, not read through the mapping: at ten million rows
    reading every column through it made the whole old generation (some 200 MB) resident in
    the writing worker beside the pages its views use, and joining a column in memory took up
    to 80 MB more. Each column is let go once written."""
    with writer_lock(directory) as mine:
        if not mine or newest_watermark(directory) >= watermark:
            return False
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=directory))
        try:
            for name in cols:  # no name holds the column past its save
                before = base.path / f"{name}.npy" if base is not None else None
                _save(tmp / f"{name}.npy", name, cols[name], before)
            for i, key in enumerate(keys):
                before = base.path / f"a{base.keys.index(key)}.npy" if base is not None else None
                _save(tmp / f"a{i}.npy", f"a{i}", answers[key], before)
            manifest = {"columns": list(cols), "keys": keys, "tables": tables}
            (tmp / "manifest.json").write_text(json.dumps(manifest))
            os.rename(tmp, directory / f"{_PREFIX}{watermark}")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for _old, path in _generations(directory)[:-1]:
            shutil.rmtree(path, ignore_errors=True)
        return True


# Rows converted at a time when a base column is widened (a tail met more codes than its
# type holds): a few megabytes.
_COPY_ROWS = 1 << 20


def _save(path: Path, name: str, tail: np.ndarray, before: Path | None) -> None:
    """One column's file: ``tail`` alone, or the column in ``before`` followed by it."""
    if before is None:
        np.save(path, np.ascontiguousarray(_narrow(name, tail)))
        return
    with open(before, "rb") as src, open(path, "wb") as out:
        version = np.lib.format.read_magic(src)
        read = np.lib.format.read_array_header_1_0
        if version != (1, 0):
            read = np.lib.format.read_array_header_2_0
        (rows,), _fortran, kept = read(src)
        # The joined column's type, as _narrow would choose it for the joined values: the
        # base's type already is the smallest that holds the base's values.
        wanted = _narrow(name, tail).dtype if len(tail) else kept
        dtype = kept if wanted.kind != kept.kind or wanted.itemsize <= kept.itemsize else wanted
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
        np.lib.format.write_array_header_1_0(out, {**header, "shape": (rows + len(tail),)})
        if dtype == kept:
            shutil.copyfileobj(src, out, 1 << 20)
        else:
            for start in range(0, rows, _COPY_ROWS):
                part = np.fromfile(src, dtype=kept, count=min(_COPY_ROWS, rows - start))
                part.astype(dtype).tofile(out)
        np.ascontiguousarray(tail.astype(dtype, copy=False)).tofile(out)


def _narrow(name: str, col: np.ndarray) -> np.ndarray:
    """A column of codes or day numbers in the smallest integer type that holds its values.

    Unit, area, age band, sex and answer codes number a few hundred values at most (int8 for
    most campaigns) and day numbers stay below 32,768 until 2059 (int16), against the tail's
    int32 and int16: the pages every worker maps (and counts in its resident size) shrink
    with them (at ten million rows from 297 to 115 MB). Same values; every reader widens
    before arithmetic that could overflow (``cube_tally``). The response ids stay int64."""
    if name == "rid" or col.dtype.kind not in "iu" or len(col) == 0:
        return col
    lo, hi = int(col.min()), int(col.max())
    for t in (np.int8, np.int16, np.int32):
        if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
            return col if col.dtype == t else col.astype(t)
    return col
