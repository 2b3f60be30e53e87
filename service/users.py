"""Routes for logging in and out and for managing accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import Session, col, select

from service import audit
from service.auth import (
    AdminUser,
    CurrentUser,
    SettingsDep,
    authenticate,
    hash_password,
    issue_token,
    oauth2_scheme,
    revoke_token,
    revoke_user_tokens,
)
from service.db import SessionDep, get_or_404, stored_id
from service.errors import Conflict
from service.models import PasswordChange, TokenPublic, User, UserCreate, UserPublic, UserUpdate

router = APIRouter(prefix="/api/v1", tags=["accounts"])


def create_user(session: Session, *, data: UserCreate) -> User:
    """Create an account with a hashed password; 409 when the username is taken."""
    if session.exec(select(User).where(User.username == data.username)).first():
        raise Conflict(f"Username '{data.username}' already exists")
    user = User(
        username=data.username,
        display_name=data.display_name,
        role=data.role,
        is_active=data.is_active,
        password_hash=hash_password(data.password),
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, *, user: User, password: str) -> int:
    """Give the user a new password and revoke all their tokens and page sessions, so whoever
    held the old password or a token is out; returns how many were revoked."""
    user.password_hash = hash_password(password)
    session.add(user)
    session.flush()
    return revoke_user_tokens(session, user_id=stored_id(user))


def valid_user_id(user_id: int, session: SessionDep) -> User:
    """The user with this id, or 404."""
    return get_or_404(session, User, user_id, "User")


UserById = Annotated[User, Depends(valid_user_id)]


@router.post("/auth/token", response_model=TokenPublic)
def login_for_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> TokenPublic:
    """OAuth2 password flow: exchange username and password for a revocable bearer token."""
    user = authenticate(
        engine=request.app.state.engine,
        settings=settings,
        username=form.username,
        password=form.password,
    )
    raw, row = issue_token(session, user=user, settings=settings)
    return TokenPublic(access_token=raw, expires_at=row.expires_at)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(
    user: CurrentUser, session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Response:
    """Revoke the bearer token used for this call."""
    if token:
        revoke_token(session, token=token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users/me", response_model=UserPublic)
def read_me(user: CurrentUser) -> User:
    """The account of the caller."""
    return user


@router.post("/users/me/password", status_code=status.HTTP_204_NO_CONTENT)
def change_own_password(
    request: Request, data: PasswordChange, user: CurrentUser, session: SessionDep
) -> Response:
    """Change the caller's password; every token and session of theirs, this one included,
    stops working. Wrong current passwords are throttled like logins, on a key of their own
    (no username holds a colon), so a stolen token can neither guess freely nor lock the owner
    out of logging in."""
    authenticate(
        engine=request.app.state.engine,
        settings=request.app.state.settings,
        username=user.username,
        password=data.current_password,
        throttle_key=f"password-change:{user.id}",
    )
    revoked = set_password(session, user=user, password=data.new_password)
    audit.record(
        session, actor=user.username, action="user.password", target=user.username, revoked=revoked
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/users", response_model=list[UserPublic])
def read_users(admin: AdminUser, session: SessionDep, role: str | None = None) -> list[User]:
    """All accounts (admin)."""
    q = select(User).order_by(col(User.id))
    if role:
        q = q.where(User.role == role)
    return list(session.exec(q))


@router.post("/users", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
def create_user_route(data: UserCreate, admin: AdminUser, session: SessionDep) -> User:
    """Create an account (admin)."""
    user = create_user(session, data=data)
    audit.record(
        session,
        actor=admin.username,
        action="user.create",
        target=user.username,
        role=user.role.value,
    )
    return user


@router.get("/users/{user_id}", response_model=UserPublic)
def read_user(admin: AdminUser, user: UserById) -> User:
    """One account (admin)."""
    return user


@router.patch("/users/{user_id}", response_model=UserPublic)
def update_user(data: UserUpdate, admin: AdminUser, user: UserById, session: SessionDep) -> User:
    """Change an account's name, role, active flag or password (admin); a new password
    revokes the account's tokens and sessions."""
    changes = data.model_dump(exclude_unset=True)
    if changes.get("password") is not None:
        set_password(session, user=user, password=changes["password"])
    changes.pop("password", None)
    for key, value in changes.items():
        setattr(user, key, value)
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=admin.username,
        action="user.update",
        target=user.username,
        fields=sorted(data.model_dump(exclude_unset=True)),
    )
    return user


@router.delete("/users/{user_id}", response_model=UserPublic)
def deactivate_user(admin: AdminUser, user: UserById, session: SessionDep) -> User:
    """Deactivate an account (kept for the audit trail; its tokens stop working)."""
    user.is_active = False
    session.add(user)
    session.flush()
    audit.record(session, actor=admin.username, action="user.deactivate", target=user.username)
    return user
