"""Passwords, revocable tokens, role checks, page sessions and CSRF."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Engine, case, delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from service.config import Settings
from service.db import SessionDep, stored_id, utcnow
from service.errors import Forbidden, TooManyRequests, Unauthorized
from service.models import AuthToken, LoginThrottle, Role, User

SESSION_COOKIE = "minyi_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}

_hasher = PasswordHasher()
# Verified against when the account does not exist, so timing does not tell either.
_DUMMY_HASH = _hasher.hash("minyi-dummy-password")

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def hash_password(password: str) -> str:
    """Argon2id hash of a password."""
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """True when the password matches the hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get_settings_dep(request: Request) -> Settings:
    """The settings the running app was built with."""
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def _lock_seconds(settings: Settings, attempts: int) -> int:
    """How long the account locks once this many attempts have failed in a row."""
    over = attempts - settings.login_max_failures
    # Exponential back-off, capped: the owner is slowed down, never locked out forever.
    return min(settings.login_lock_max_seconds, 30 * 2 ** min(over, 16))


def _count_attempt(s: Session, name: str, now: datetime) -> tuple[int, datetime | None]:
    """Count one login attempt atomically: (attempts since the last success, lock in force).

    One upsert, so concurrent attempts (threads or worker processes) never race on the row's
    insert and each sees its own count; an attempt during a lock is not counted. The upsert
    also locks the row until the caller's transaction ends (both databases)."""
    table = LoginThrottle.__table__  # type: ignore[attr-defined]
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    locked = table.c.locked_until > now
    stmt = (
        insert(table)
        .values(username=name, failures=1, locked_until=None)
        .on_conflict_do_update(
            index_elements=[table.c.username],
            set_={"failures": case((locked, table.c.failures), else_=table.c.failures + 1)},
        )
        .returning(table.c.failures, table.c.locked_until)
    )
    attempts, locked_until = s.execute(stmt).one()
    return int(attempts), locked_until


def authenticate(
    *,
    engine: Engine,
    settings: Settings,
    username: str,
    password: str,
    throttle_key: str | None = None,
) -> User:
    """Check a login, throttled per account name (or per ``throttle_key`` when given).

    The attempt is counted, and the lock decided, in one short transaction before the password
    is verified: a locked account is refused without verifying, so N concurrent guesses get at
    most ``login_max_failures`` verifications. The attempt that reaches the limit sets the lock
    itself; a success clears the row."""
    now = utcnow()
    name = username.strip()[:64]
    # Other throttles use keys with a colon (``password-change:<id>``), which no username holds;
    # a login typed with one is counted apart, so it cannot lock those.
    login_key = f"login:{name}" if ":" in name else name
    key = (throttle_key or login_key)[:64]
    table = LoginThrottle.__table__  # type: ignore[attr-defined]
    with Session(engine, expire_on_commit=False) as s:
        attempts, locked_until = _count_attempt(s, key, now)
        if locked_until is not None and locked_until > now:
            s.commit()
            wait = int((locked_until - now).total_seconds()) + 1
            raise TooManyRequests("Too many failed logins; try again later", wait)
        if attempts >= settings.login_max_failures:
            until = now + timedelta(seconds=_lock_seconds(settings, attempts))
            s.execute(update(table).where(table.c.username == key).values(locked_until=until))
        s.commit()
        user = s.exec(select(User).where(User.username == name)).first()
        ok = verify_password(password, user.password_hash if user else _DUMMY_HASH)
        if ok and user is not None and user.is_active:
            s.execute(delete(table).where(table.c.username == key))
            s.commit()
            s.expunge(user)
            return user
        s.rollback()
    raise Unauthorized("Incorrect username or password")


def issue_token(
    session: Session, *, user: User, settings: Settings, kind: str = "bearer"
) -> tuple[str, AuthToken]:
    """Create a token for the user; the raw value is returned once and never stored."""
    raw = secrets.token_urlsafe(32)
    row = AuthToken(
        token_hash=_digest(raw),
        user_id=stored_id(user),
        kind=kind,
        expires_at=utcnow() + timedelta(hours=settings.token_ttl_hours),
    )
    session.add(row)
    session.flush()
    # A password change or reset that committed after this login checked the password must
    # not leave a token made from the old one. The row is written first and the account read
    # after it, locked (PostgreSQL; SQLite has one writer at a time): a reset that got there
    # first shows its new hash here, and one that comes later waits for this commit and then
    # revokes this token with the others.
    current = session.exec(
        select(User.password_hash).where(User.id == row.user_id).with_for_update()
    ).first()
    if current != user.password_hash:
        raise Unauthorized("The password has just been changed; please log in again")
    return raw, row


def revoke_token(session: Session, *, token: str) -> None:
    """Mark a token revoked; it stops working at once."""
    session.execute(
        update(AuthToken)
        .where(col(AuthToken.token_hash) == _digest(token), col(AuthToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_user_tokens(session: Session, *, user_id: int) -> int:
    """Revoke every live bearer token and page session of a user (a password change or
    reset); returns how many were live."""
    result = session.execute(
        update(AuthToken)
        .where(col(AuthToken.user_id) == user_id, col(AuthToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def user_for_token(session: Session, token: str) -> User | None:
    """The active user a live token belongs to, or None."""
    row = session.exec(select(AuthToken).where(AuthToken.token_hash == _digest(token))).first()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return user


def csrf_token_for(settings: Settings, session_token: str) -> str:
    """The CSRF token bound to a page session (HMAC, so nothing extra is stored)."""
    key = (settings.secret_key or "").encode()
    return hmac.new(key, b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


async def submitted_csrf(request: Request) -> str:
    """The CSRF token sent with a cookie-authenticated write (header or form field).

    Async because reading a form is; it does no database work, so it never blocks the loop.
    """
    if request.method in SAFE_METHODS or SESSION_COOKIE not in request.cookies:
        return ""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def optional_user(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    bearer: Annotated[str | None, Depends(oauth2_scheme)],
    sent_csrf: Annotated[str, Depends(submitted_csrf)],
) -> User | None:
    """The caller, from a bearer token or the page-session cookie (CSRF-checked on writes).

    A plain ``def``: the token lookup is blocking database work, so it runs in the thread pool.
    """
    if bearer:
        user = user_for_token(session, bearer)
        if user is None:
            raise Unauthorized("Invalid, expired or revoked token")
        return user
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    user = user_for_token(session, cookie)
    if user is None:
        return None
    if request.method not in SAFE_METHODS and not hmac.compare_digest(
        sent_csrf, csrf_token_for(settings, cookie)
    ):
        raise Forbidden("Missing or wrong CSRF token")
    request.state.user = user
    return user


OptionalUser = Annotated[User | None, Depends(optional_user)]


def current_user(user: OptionalUser) -> User:
    """The authenticated caller, or 401."""
    if user is None:
        raise Unauthorized()
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets only the given roles through (401 anonymous, 403 otherwise)."""

    def _check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise Forbidden("This action needs the role: " + " or ".join(r.value for r in roles))
        return user

    _check.minyi_roles = frozenset(roles)  # type: ignore[attr-defined]
    return _check


# How FastAPI reads a true boolean query parameter.
_TRUE = {"1", "on", "t", "true", "y", "yes"}
FLAGGED_SWITCH = "include_flagged"


def flagged_switch_admin_only(request: Request, user: OptionalUser) -> None:
    """Refuse ``include_flagged=true`` to all but admins (401 anonymous, 403 otherwise).

    Mounted on every router whose aggregates take the switch: the same view with and without
    the flagged responses differs by those few people, so only the holder of the raw data may
    ask for both."""
    raw = request.query_params.get(FLAGGED_SWITCH)
    if raw is None or raw.strip().lower() not in _TRUE:
        return
    if user is None:
        raise Unauthorized()
    if user.role != Role.admin:
        raise Forbidden(f"{FLAGGED_SWITCH}=true needs the role: admin")


AdminUser = Annotated[User, Depends(require_roles(Role.admin))]
EvaluatorUser = Annotated[User, Depends(require_roles(Role.admin, Role.evaluator))]
DeputyUser = Annotated[User, Depends(require_roles(Role.deputy))]
# Subjects and democratic evaluations: the organisation department (组织部) and admins.
OrganisationUser = Annotated[User, Depends(require_roles(Role.admin, Role.organisation))]
