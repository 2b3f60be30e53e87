"""Keyed hashes, the form token, abuse flags and the purge of abuse data at closing.

Responses never hold who sent them. What detecting stuffing needs (a keyed hash of the client's
network address and device, and a keyed hash of comment texts, each with counters) lives in
``abuse_mark``, has no link to any response, and is deleted once the campaign has closed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import delete, select, union_all, update
from sqlalchemy.engine import Connection

from surveys.forms.bulk import Bulk, one_of
from surveys.forms.models import ABUSE_MARK_TABLE, CAMPAIGN_TABLE, INVITATION_TABLE

# More responses than this from one client within BURST_WINDOW: the later ones are flagged.
BURST_WINDOW = timedelta(minutes=10)
BURST_MAX = 10
# A human needs at least this long to read and answer (form open -> response received).
MIN_SECONDS = 3.0
MIN_SECONDS_PER_ANSWER = 0.8
# Comments shorter than this ("很好", "满意") repeat naturally and are not compared.
DUPLICATE_MIN_CHARS = 10
# At least this many ratings, all the same, is a straight line down the grid.
STRAIGHT_LINE_MIN = 4
# Straight-lining alone is common among honestly satisfied residents: it is noted in
# `flags` but only excludes a response (`flagged`) together with another signal.
WEAK_FLAGS = frozenset({"straight_line"})
FLAG_NAMES = ("burst", "too_fast", "straight_line", "duplicate_comment")

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: typed from paper
_CODE_CLEAN = re.compile(r"[\s-]+")
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


@lru_cache(maxsize=8)
def _keyed(secret: str) -> hmac.HMAC:
    # The keyed state is prepared once; each hash copies it (the hot path makes three).
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def keyed_hash(secret: str, purpose: str, *parts: object) -> str:
    """HMAC-SHA256 (hex) of the parts, separated by purpose so hashes never collide across uses."""
    h = _keyed(secret).copy()
    h.update("\x1f".join([purpose, *map(str, parts)]).encode())
    return h.hexdigest()


def normalize_code(code: str) -> str:
    """Invitation codes are typed from paper: ignore case, spaces and dashes."""
    return _CODE_CLEAN.sub("", code).upper()


def code_hash(secret: str, code: str) -> str:
    """What is stored of an invitation code."""
    return keyed_hash(secret, "invitation", normalize_code(code))


def submission_key(secret: str, campaign_id: int, submission_id: str) -> str:
    """What is stored of a client's submission_id: enough to recognise a retry, nothing more."""
    return keyed_hash(secret, "submission", campaign_id, submission_id.lower())


def client_hash(secret: str, campaign_id: int, network: str, device: str) -> str:
    """Keyed hash of the client's network address and device (user agent), per campaign."""
    return keyed_hash(secret, "client", campaign_id, network, device[:256])


def comment_hash(secret: str, campaign_id: int, comment: str | None) -> str | None:
    """Keyed hash of a comment's text, ignoring case, spacing and punctuation; None if short."""
    if not comment:
        return None
    text = _PUNCT.sub("", unicodedata.normalize("NFKC", comment).casefold())
    if len(text) < DUPLICATE_MIN_CHARS:
        return None
    return keyed_hash(secret, "comment", campaign_id, text)


def issue_form_token(secret: str, campaign_id: int, now: datetime) -> str:
    """A signed note of when the form was handed out (never stored)."""
    ts = int(now.timestamp())
    return f"{ts}.{keyed_hash(secret, 'form', campaign_id, ts)[:20]}"


def form_age_seconds(
    secret: str, campaign_id: int, token: str | None, now: datetime
) -> float | None:
    """Seconds since the form was handed out, or None for a missing or forged token."""
    if not token or "." not in token:
        return None
    ts_text, sig = token.split(".", 1)
    if not ts_text.isdigit():
        return None
    expected = keyed_hash(secret, "form", campaign_id, int(ts_text))[:20]
    if not hmac.compare_digest(sig, expected):
        return None
    return now.timestamp() - int(ts_text)


def content_flags(
    *, form_age: float | None, answered: int, ratings: list[tuple[float, float, float]]
) -> set[str]:
    """Flags that the response alone shows: answered too fast, straight line down the grid.

    ``ratings`` holds (value, scale_min, scale_max) of each rating answered.
    """
    flags: set[str] = set()
    if form_age is not None and form_age < MIN_SECONDS + MIN_SECONDS_PER_ANSWER * answered:
        flags.add("too_fast")
    if len(ratings) >= STRAIGHT_LINE_MIN and len({(v, lo, hi) for v, lo, hi in ratings}) == 1:
        flags.add("straight_line")
    return flags


def is_flagged(flags: set[str] | frozenset[str]) -> bool:
    """Whether the flags exclude a response from indicators by default."""
    return bool(flags - WEAK_FLAGS)


def format_flags(flags: set[str] | frozenset[str]) -> str:
    return ",".join(f for f in FLAG_NAMES if f in flags)


@dataclass(slots=True)
class Mark:
    """An abuse counter as read (``exists``) or as it will be written."""

    window_start_at: datetime
    window_count: int
    total_count: int
    exists: bool


# (campaign_id, kind, key_hash) -> the counter stored, or None while unknown or absent.
Marks = dict[tuple[int, str, str], Mark | None]


def mark_keys(items: list[tuple[int, str | None, str | None]]) -> Marks:
    """The counters that (campaign_id, client_hash, comment_hash) items touch, not yet read."""
    wanted: Marks = {}
    for cid, client, comment in items:
        if client:
            wanted[(cid, "client", client)] = None
        if comment:
            wanted[(cid, "comment", comment)] = None
    return wanted


def read_marks(conn: Connection, wanted: Marks) -> None:
    """Fill ``wanted`` with the counters stored (one query per campaign)."""
    t = ABUSE_MARK_TABLE
    by_campaign: dict[int, dict[str, set[str]]] = {}
    for cid, kind, key in wanted:
        by_campaign.setdefault(cid, {}).setdefault(kind, set()).add(key)
    for cid, kinds in by_campaign.items():
        # Each kind named: the key (campaign, kind, key_hash) is then searched in full, not
        # scanned across every mark of the campaign (measured: 15 ms -> 0.5 ms per batch).
        cols = (t.c.kind, t.c.key_hash, t.c.window_start_at, t.c.window_count, t.c.total_count)
        rows = conn.execute(
            union_all(
                *(
                    select(*cols)
                    .where(t.c.campaign_id == cid)
                    .where(t.c.kind == kind)
                    .where(one_of(t.c.key_hash, sorted(keys), conn))
                    for kind, keys in sorted(kinds.items())
                )
            )
        )
        for kind, key, start, wcount, total in rows:
            if (cid, kind, key) in wanted:
                wanted[(cid, kind, key)] = Mark(start, wcount, total, True)


MarkRow = tuple[int, str, str, datetime, int, int]


def advance_marks(
    wanted: Marks, *, now: datetime, items: list[tuple[int, str | None, str | None]]
) -> tuple[list[set[str]], list[MarkRow]]:
    """Advance the counters read into ``wanted`` item by item; each item's flags and the rows
    to write back (sorted, so concurrent writers lock them in the same order)."""
    out: list[set[str]] = []
    for cid, client, comment in items:
        flags: set[str] = set()
        if client:
            m = wanted[(cid, "client", client)]
            if m is None or m.window_start_at <= now - BURST_WINDOW:
                m = Mark(now, 0, m.total_count if m else 0, m.exists if m else False)
            m.window_count += 1
            m.total_count += 1
            wanted[(cid, "client", client)] = m
            if m.window_count > BURST_MAX:
                flags.add("burst")
        if comment:
            m = wanted[(cid, "comment", comment)]
            if m is None:
                m = Mark(now, 0, 0, False)
            if m.total_count > 0:
                flags.add("duplicate_comment")
            m.window_count += 1
            m.total_count += 1
            wanted[(cid, "comment", comment)] = m
        out.append(flags)
    rows = [
        (cid, kind, key, m.window_start_at, m.window_count, m.total_count)
        for (cid, kind, key), m in sorted(wanted.items(), key=lambda kv: kv[0])
        if m is not None
    ]
    return out, rows


def apply_marks(
    conn: Connection,
    *,
    now: datetime,
    items: list[tuple[int, str | None, str | None]],
) -> list[set[str]]:
    """Count each (campaign_id, client_hash, comment_hash) and return the flags each earns.

    Counters are read, advanced in order, and written back in one upsert per batch. Two
    processes counting the same client at the same instant may undercount by one batch:
    flags are a heuristic; exactly-once is guarded by constraints, not by this.
    """
    wanted = mark_keys(items)
    if not wanted:
        return [set() for _ in items]
    read_marks(conn, wanted)
    flags, rows = advance_marks(wanted, now=now, items=items)
    Bulk.of(conn).upsert_marks(conn, rows)
    return flags


def purge_closed(conn: Connection, *, now: datetime, campaign_id: int | None = None) -> list[int]:
    """Delete abuse data of every closed campaign not yet purged; return their ids."""
    c = CAMPAIGN_TABLE
    q = select(c.c.id).where(c.c.closes_at <= now).where(c.c.purged_at.is_(None))
    if campaign_id is not None:
        q = q.where(c.c.id == campaign_id)
    ids = [row[0] for row in conn.execute(q)]
    if ids:
        # Claimed first, and only while still unpurged: a concurrent purge (another worker's
        # job) waits on the row lock, then claims nothing, so each campaign is purged, and
        # audited, once.
        claim = update(c).where(c.c.id.in_(ids)).where(c.c.purged_at.is_(None))
        ids = sorted(r[0] for r in conn.execute(claim.values(purged_at=now).returning(c.c.id)))
    if ids:
        conn.execute(delete(ABUSE_MARK_TABLE).where(ABUSE_MARK_TABLE.c.campaign_id.in_(ids)))
        # A code is redeemed in the transaction that stores its response, so on PostgreSQL the
        # invitation row's xmin names that transaction. Rewriting every invitation of the
        # campaign in this one transaction gives them all the same xmin: no code points to a
        # response any more (the old row versions go at the next VACUUM).
        inv = INVITATION_TABLE
        conn.execute(update(inv).where(inv.c.campaign_id.in_(ids)).values(used=inv.c.used))
    return ids
