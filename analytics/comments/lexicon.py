"""jieba's dictionary and IDF table as sorted arrays in files that every worker maps.

jieba keeps its dictionary as a Python dict of every word and every prefix of a word (half a
million keys, about 62 MB in a process) and ``jieba.analyse`` its IDF table as another (270,000
words, 43 MB). Here both are built once into files, the words of each length ``L`` as one
sorted ``<U{L}`` array (most words are two or three characters, so this takes 6 MB where a
fixed width of 16 characters would take 32) beside an array of their values, and are mapped
read-only: the pages live in the system's file cache, shared by every worker, not in each
worker's heap.

A tokenizer does not need the whole dictionary to cut given texts, only the answers to the
questions it will ask. jieba's ``cut`` (accurate mode) splits a text into blocks of
``re_han_default`` and, for each block, builds a DAG by walking from every position while the
fragment read so far is a key (``get_DAG``), weighs the paths with ``FREQ.get`` of the DAG's
words and ``total`` (``calc``), and asks ``FREQ.get`` of each run of single characters before
giving it to the HMM (``__cut_DAG``). Every key of that run is also one of the walk's
fragments, since jieba stores every prefix of a word as a key. ``freq_for`` therefore walks
the same way, one fragment length at a time with one ``searchsorted`` per length, and returns
the keys it met: a dict that answers every question the tokenizer asks about these texts as
the whole dictionary would, so it cuts them into the same words.

The files live under ``MINYI_ANALYTICS_DIR`` (``lexicon/``) when it is set, otherwise in the
system's temporary directory beside jieba's own cache, in a directory named by a hash of what
they are built from (jieba's version and files, the domain words and their frequency): a
change to any of them builds new files. Building reads the whole dictionary (1-2 s, 140 MB
more at its peak, mostly holding the GIL), so it runs in a child process: the worker neither
grows nor stalls its other requests for it. One process builds at a time (a file lock), into a
temporary directory renamed into place, so no reader sees half a build.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from service.memory import give_back

log = logging.getLogger(__name__)

# Raise when the layout of the files changes, so older ones are not read.
FORMAT = 1
_PREFIX = "jieba-"


class Table:
    """A mapped word -> value table: for each length, the sorted words and their values."""

    def __init__(self, directory: Path, name: str, counts: Sequence[int]) -> None:
        chars = np.load(directory / f"{name}_chars.npy", mmap_mode="r")
        values = np.load(directory / f"{name}_values.npy", mmap_mode="r")
        # by_length[L]: (words of length L as a <U{L} view of the characters, their values).
        self.by_length: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        at = char_at = 0
        for length, n in enumerate(counts, start=1):
            if n:
                words = chars[char_at : char_at + n * length].view(f"<U{length}")
                self.by_length[length] = (words, values[at : at + n])
            at += n
            char_at += n * length
        self.longest = max(self.by_length, default=0)

    def find(self, length: int, words: Iterable[str]) -> dict[str, Any]:
        """The given words (each ``length`` characters long) that are in the table, with their
        values as Python numbers."""
        table = self.by_length.get(length)
        # A NUL ends a numpy string early, so such a word could match a shorter key; no key
        # holds one.
        query = [w for w in words if "\0" not in w]
        if table is None or not query:
            return {}
        keys, values = table
        q = np.array(query, dtype=f"<U{length}")
        at = np.searchsorted(keys, q)
        inside = at < len(keys)
        hit = np.zeros(len(q), dtype=bool)
        hit[inside] = keys[at[inside]] == q[inside]
        found = at[hit]
        return dict(zip(q[hit].tolist(), values[found].tolist(), strict=True))

    def lookup(self, words: Iterable[str]) -> dict[str, Any]:
        """The given words (of any length) that are in the table, with their values."""
        by_length: dict[int, set[str]] = {}
        for w in words:
            if 0 < len(w) <= self.longest:
                by_length.setdefault(len(w), set()).add(w)
        out: dict[str, Any] = {}
        for length, group in by_length.items():
            out.update(self.find(length, group))
        return out


class Lexicon:
    """jieba's dictionary with the domain words, and the IDF table of its keywords, mapped."""

    def __init__(self, directory: Path) -> None:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        self.directory = directory
        # jieba's ``Tokenizer.total``: the dictionary's frequencies plus the domain words'.
        self.total: int = meta["total"]
        self.median_idf: float = meta["median_idf"]
        self.freq = Table(directory, "freq", meta["freq_counts"])
        self.idf = Table(directory, "idf", meta["idf_counts"])

    def freq_for(self, texts: Iterable[str]) -> dict[str, int]:
        """The dictionary keys (words and prefixes, with their frequencies) that jieba's
        accurate-mode ``cut`` of these texts would look up and find."""
        import jieba

        blocks: set[str] = set()
        for text in texts:
            blocks.update(jieba.re_han_default.findall(text))
        found: dict[str, int] = {}
        # get_DAG's walk for every block and start at once, one fragment length at a time:
        # a start goes on to the next length while its fragment is a key.
        starts = [(b, k) for b in blocks for k in range(len(b))]
        length = 1
        while starts and length <= self.freq.longest:
            hits = self.freq.find(length, {b[k : k + length] for b, k in starts})
            found.update(hits)
            starts = [
                (b, k) for b, k in starts if k + length < len(b) and b[k : k + length] in hits
            ]
            length += 1
        return found

    def tokenizer(self, texts: Iterable[str]) -> Any:
        """A ``jieba.Tokenizer`` that cuts these texts (accurate mode, with or without the
        HMM) as one holding the whole dictionary and the domain words would."""
        import jieba

        tok = jieba.Tokenizer()
        tok.FREQ = self.freq_for(texts)
        tok.total = self.total
        tok.initialized = True  # so it never loads the whole dictionary
        return tok


def directory() -> Path:
    """Where the lexicon files are kept (a directory per build inside)."""
    configured = os.environ.get("MINYI_ANALYTICS_DIR")
    if configured:
        return Path(configured) / "lexicon"
    return Path(tempfile.gettempdir()) / "minyi-lexicon"


def open_lexicon(domain_words: Sequence[str], domain_freq: int) -> Lexicon:
    """The lexicon of jieba's dictionary with these domain words added at this frequency,
    built first if no process has built it yet."""
    base = directory()
    where = base / (_PREFIX + _key(domain_words, domain_freq))
    if not (where / "meta.json").is_file():
        with _build_lock(base):
            # Another process may have built it while this one waited for the lock.
            if not (where / "meta.json").is_file():
                _build_apart(where, domain_words, domain_freq)
                _remove_others(base, keep=where)
    return Lexicon(where)


def _key(domain_words: Sequence[str], domain_freq: int) -> str:
    """A hash of what the files are built from: a new jieba or new domain words, new files."""
    import jieba

    here = Path(jieba.__file__).parent
    files = [here / "dict.txt", here / "analyse" / "idf.txt"]
    ident = {
        "format": FORMAT,
        "jieba": jieba.__version__,
        "files": [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files],
        "domain_words": list(domain_words),
        "domain_freq": domain_freq,
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


@contextlib.contextmanager
def _build_lock(base: Path) -> Iterator[None]:
    """One builder at a time: two workers starting together do not both build."""
    base.mkdir(parents=True, exist_ok=True)
    with open(base / "lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build_apart(where: Path, domain_words: Sequence[str], domain_freq: int) -> None:
    """``build`` in a fresh child process (blocking: the caller waits on a pipe)."""
    # spawn, not fork: the server has threads, and a forked child may inherit a held lock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        pool.submit(build, where, list(domain_words), domain_freq).result()


def build(where: Path, domain_words: Sequence[str], domain_freq: int) -> None:
    """Write the lexicon files into ``where`` (a new directory, renamed into place)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    for w in domain_words:
        tok.add_word(w, freq=domain_freq)
    # As jieba.analyse reads its IDF table (a later duplicate replaces an earlier one).
    idf: dict[str, float] = {}
    path = Path(jieba.__file__).parent / "analyse" / "idf.txt"
    for line in path.read_bytes().decode("utf-8").splitlines():
        word, value = line.strip().split(" ")
        idf[word] = float(value)
    median_idf = sorted(idf.values())[len(idf) // 2]
    where.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=where.parent))
    try:
        freq_counts = _write_table(tmp, "freq", tok.FREQ, np.int64)
        idf_counts = _write_table(tmp, "idf", idf, np.float64)
        meta = {
            "format": FORMAT,
            "total": tok.total,
            "median_idf": median_idf,
            "freq_counts": freq_counts,
            "idf_counts": idf_counts,
        }
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        os.rename(tmp, where)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        del tok, idf
        give_back()  # the whole dictionary's pages, to the system now (when built in-process)
    log.info("built the word lexicon in %s", where)


def _write_table(tmp: Path, name: str, table: dict[str, Any], dtype: type) -> list[int]:
    """Write the table's words grouped by length, each group sorted, and their values; the
    number of words of each length, from 1, is returned."""
    by_length: dict[int, list[str]] = {}
    for w in table:
        if "\0" in w:
            raise ValueError(f"a dictionary word holds a NUL: {w!r}")
        by_length.setdefault(len(w), []).append(w)
    longest = max(by_length, default=0)
    counts = [len(by_length.get(n, ())) for n in range(1, longest + 1)]
    chars: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for length in range(1, longest + 1):
        words = by_length.get(length)
        if not words:
            continue
        # Sorted by numpy's own string order, the order searchsorted searches in.
        arr = np.sort(np.array(words, dtype=f"<U{length}"))
        chars.append(arr.view("<u4"))
        values.append(np.array([table[w] for w in arr.tolist()], dtype=dtype))
    np.save(tmp / f"{name}_chars.npy", np.concatenate(chars) if chars else np.zeros(0, "<u4"))
    np.save(tmp / f"{name}_values.npy", np.concatenate(values) if values else np.zeros(0, dtype))
    return counts


def _remove_others(base: Path, *, keep: Path) -> None:
    """Earlier builds (other domain words, another jieba); a process still mapping one keeps
    reading it (removed files stay readable on POSIX)."""
    for path in base.iterdir():
        if path != keep and path.is_dir() and path.name.startswith((_PREFIX, ".tmp-")):
            shutil.rmtree(path, ignore_errors=True)
