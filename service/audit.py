"""An append-only, hash-chained audit log of admin actions, state changes and exports."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, text
from sqlmodel import Field, Session, SQLModel, col, select

from service.db import UTCDateTime, utcnow

GENESIS = "0" * 64


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64, index=True)
    target: str = Field(default="", max_length=128)
    detail: str = Field(default="{}")
    prev_hash: str = Field(default=GENESIS, max_length=64)
    hash: str = Field(default="", max_length=64)


def _entry_hash(prev: str, e: AuditEntry) -> str:
    payload = json.dumps(
        [prev, e.id, e.at.isoformat(), e.actor, e.action, e.target, e.detail],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def record(
    session: Session, *, actor: str, action: str, target: str = "", **detail: Any
) -> AuditEntry:
    """Append an entry in the caller's transaction, chained to the one before it."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # Serialise appenders so two transactions never chain to the same predecessor.
        session.execute(text("SELECT pg_advisory_xact_lock(4242002)"))
    entry = AuditEntry(
        actor=actor,
        action=action,
        target=target,
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str),
    )
    entry.at = entry.at.replace(microsecond=(entry.at.microsecond // 1000) * 1000)
    session.add(entry)
    # After this INSERT the transaction holds SQLite's write lock, so the predecessor is final.
    session.flush()
    prev = session.exec(
        select(AuditEntry.hash)
        .where(col(AuditEntry.id) < entry.id)
        .order_by(col(AuditEntry.id).desc())
        .limit(1)
    ).first()
    entry.prev_hash = prev or GENESIS
    entry.hash = _entry_hash(entry.prev_hash, entry)
    session.flush()
    return entry


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    problem: str = ""
    # The newest entry's hash: written down somewhere the database's owner cannot change, it
    # shows later whether the newest entries were removed or the whole chain rewritten.
    head: str = GENESIS
    # The first bad entry and why ("chain": one before it was deleted or edited; "edited"), so
    # a page can say it in the reader's language.
    broken_id: int | None = None
    reason: str = ""


def verify(session: Session) -> VerifyResult:
    """Walk the chain; report the first edited, inserted or deleted entry."""
    prev = GENESIS
    n = 0
    for e in session.exec(select(AuditEntry).order_by(col(AuditEntry.id))):
        n += 1
        if e.prev_hash != prev:
            return VerifyResult(
                False,
                n,
                f"entry {e.id}: chain broken (an entry before it was deleted or edited)",
                broken_id=e.id,
                reason="chain",
            )
        if _entry_hash(prev, e) != e.hash:
            return VerifyResult(
                False,
                n,
                f"entry {e.id}: content does not match its hash (edited)",
                broken_id=e.id,
                reason="edited",
            )
        prev = e.hash
    return VerifyResult(True, n, head=prev)


@dataclass(frozen=True)
class AuditFilter:
    """Which entries a reader asks for: exact actor and action, and a half-open UTC time range."""

    actor: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None


def _filtered(query: Any, f: AuditFilter) -> Any:
    if f.actor:
        query = query.where(AuditEntry.actor == f.actor)
    if f.action:
        query = query.where(AuditEntry.action == f.action)
    if f.since is not None:
        query = query.where(col(AuditEntry.at) >= f.since)
    if f.until is not None:
        query = query.where(col(AuditEntry.at) < f.until)
    return query


def count_entries(session: Session, *, where: AuditFilter) -> int:
    """How many entries match the filter."""
    query = _filtered(select(func.count()).select_from(AuditEntry), where)
    return int(session.exec(query).one())


def list_entries(
    session: Session, *, where: AuditFilter, offset: int = 0, limit: int | None = None
) -> list[AuditEntry]:
    """The entries matching the filter, newest first."""
    query = _filtered(select(AuditEntry), where).order_by(col(AuditEntry.id).desc())
    query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query))


def known_actions(session: Session) -> list[str]:
    """Every action the log holds, for a filter's choices."""
    query = select(AuditEntry.action).distinct().order_by(col(AuditEntry.action))
    return list(session.exec(query))
