"""Tables owned by the shared plumbing: accounts, tokens, login throttling."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import String
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime, utcnow
from service.passwords import MAX_LENGTH, NewPassword, OptionalNewPassword


class Role(str, enum.Enum):
    admin = "admin"
    evaluator = "evaluator"
    deputy = "deputy"
    # 组织部: manages subjects and democratic evaluations and reads their results.
    organisation = "organisation"


class UserBase(SQLModel):
    # SQLModel drops `regex` under pydantic 2; `pattern` through schema_extra is enforced.
    username: str = Field(
        min_length=2, max_length=64, schema_extra={"pattern": r"^[A-Za-z0-9_.@-]+$"}
    )
    display_name: str = Field(default="", max_length=128)
    role: Role = Field(default=Role.evaluator, sa_type=String(16))
    is_active: bool = True


class User(UserBase, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UserCreate(UserBase):
    password: NewPassword = Field(max_length=MAX_LENGTH)


class UserUpdate(SQLModel):
    display_name: str | None = Field(default=None, max_length=128)
    role: Role | None = None
    is_active: bool | None = None
    password: OptionalNewPassword = Field(default=None, max_length=MAX_LENGTH)


class PasswordChange(SQLModel):
    """A user changing their own password: the current one proves it is them."""

    current_password: str = Field(max_length=MAX_LENGTH)
    new_password: NewPassword = Field(max_length=MAX_LENGTH)


class UserPublic(SQLModel):
    id: int
    username: str
    display_name: str
    role: Role
    is_active: bool
    created_at: datetime


class AuthToken(SQLModel, table=True):
    """A revocable bearer token or page session; only its SHA-256 is stored."""

    __tablename__ = "auth_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    kind: str = Field(default="bearer", max_length=16)  # bearer | cookie
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginThrottle(SQLModel, table=True):
    """Login attempts per account name since its last success, existing or not, so a lock
    reveals nothing. Counted by one atomic upsert (``service.auth.authenticate``)."""

    __tablename__ = "login_throttle"

    username: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TokenPublic(SQLModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
