"""Times as people read them: in the office's time zone (setting ``MINYI_TIME_ZONE``).

Times are stored in UTC; every page, sheet and report formats them through ``local_time`` so
that a resident or an official never has to convert from UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_TIME_ZONE = "Asia/Shanghai"
DATE = "%Y-%m-%d"
MINUTE = "%Y-%m-%d %H:%M"
HOUR = "%Y-%m-%d %H:00"


@lru_cache
def zone(name: str) -> ZoneInfo:
    """The named time zone (raises ``ZoneInfoNotFoundError`` for an unknown name)."""
    return ZoneInfo(name)


def local_time(
    value: datetime | None, time_zone: str = DEFAULT_TIME_ZONE, fmt: str = MINUTE
) -> str:
    """A stored time as text in the office's zone; a naive time is taken as UTC; "" for None."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone(time_zone)).strftime(fmt)
