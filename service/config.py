"""One Settings object for the whole service (environment prefix ``MINYI_``)."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = {"changeme", "change-me", "secret", "changethis", ""}


class Settings(BaseSettings):
    """Runtime configuration, read from ``MINYI_*`` environment variables or ``.env``."""

    model_config = SettingsConfigDict(env_prefix="MINYI_", env_file=".env", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite:///./minyi.db"
    # A read replica (or any read-only copy) for the analytics views' reads; unset: the main
    # database. Writes, audit records included, always go to database_url.
    analytics_database_url: str | None = None
    # Where the flexible views keep their column files (analytics/indicators/cube_files.py);
    # unset: beside a SQLite database file, or the temporary directory for PostgreSQL. Give
    # every process of a host the same directory, and each database its own.
    analytics_dir: Path | None = None
    secret_key: str | None = None
    # Where the generated secret key is kept when MINYI_SECRET_KEY is unset.
    secret_key_file: Path = Path("minyi.secret")
    min_group_size: int = 5
    default_language: Literal["zh-CN", "en"] = "zh-CN"
    # Per-client limit on public posts, e.g. "30/minute", or "off" for load tests.
    rate_limit: str = "30/minute"
    # Redis shared by every app process (rate limits, dashboard cache), e.g.
    # "redis://redis:6379/0"; unset: each process keeps its own (one process, no set-up).
    redis_url: str | None = None
    # Where the dashboard's background refreshes (and a campaign of a million responses or
    # more's first bundle) run: "process", a child process of each app process at a lower CPU
    # priority, stopped after 5 idle minutes (requests keep the worker's interpreter and
    # memory); "thread", the app process. An in-memory SQLite database (no other process can
    # open it) always uses the app process.
    dashboard_refresh: Literal["process", "thread"] = "process"
    # Seconds the background comment scorer rests when nothing is left to score; 0 turns it
    # off (then only `minyi analytics rebuild` scores comments).
    comment_scoring_interval: float = 10.0
    # Seconds between the purge job's passes over closed campaigns' abuse data; 0 turns it
    # off (then only `minyi campaigns purge` and late posts purge).
    purge_interval: float = 60.0
    token_ttl_hours: int = 12
    max_body_bytes: int = 1_000_000
    # Failed logins before an account name is slowed down, and the longest lock.
    login_max_failures: int = 5
    login_lock_max_seconds: int = 900
    # Set when served behind HTTPS so that cookies carry the Secure flag.
    secure_cookies: bool = False
    migrate_on_start: bool = True
    # The office's time zone: every time a person reads is shown in it (stored times are UTC).
    time_zone: str = "Asia/Shanghai"
    # The congress whose vote a result announcement (公告) is issued for, e.g. "XX区第十八届人民
    # 代表大会第三次会议"; the presidium (主席团) of it issues the announcement. Empty: the
    # vote's title heads it and "大会主席团" issues it.
    congress_name: str = ""
    congress_name_en: str = ""
    # Residents' proposals are public only once the office approves them; False publishes
    # them at once (and shows any still waiting).
    proposals_need_approval: bool = True

    @field_validator("min_group_size")
    @classmethod
    def _k_positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("MIN_GROUP_SIZE must be at least 1")
        return v

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, v: str) -> str:
        from service.localtime import zone

        try:
            zone(v)
        except (ValueError, LookupError) as exc:
            raise ValueError(f"MINYI_TIME_ZONE {v!r} is not a known time zone") from exc
        return v

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, v: str) -> str:
        from service.ratelimit import parse_rate

        parse_rate(v)  # raises ValueError with the accepted forms
        return v

    @field_validator("analytics_dir", mode="before")
    @classmethod
    def _analytics_dir(cls, v: object) -> object:
        # An empty value means unset, as cube_files reads the variable.
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if not v.strip().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("MINYI_REDIS_URL must start with redis://, rediss:// or unix://")
        return v.strip()

    @model_validator(mode="after")
    def _secret(self) -> Settings:
        if self.secret_key is not None and self.secret_key.strip().lower() in _PLACEHOLDERS:
            raise ValueError("MINYI_SECRET_KEY is a placeholder; set a real random value")
        if self.secret_key is None:
            self.secret_key = _load_or_create_secret(self.secret_key_file)
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _load_or_create_secret(path: Path) -> str:
    """Read the stored secret key, or generate and store one (mode 0600) on first run."""
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    value = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own and pass them to ``create_app``)."""
    return Settings()
