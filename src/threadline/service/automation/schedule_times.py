"""Times of schedules: UTC instants, IANA zones and cron occurrences."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter  # type: ignore[import-untyped]

from threadline.errors import InvalidField


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC (the SDK sends utcnow())."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_time(value: Any) -> datetime:
    """The stored ISO ``scheduled_time`` back as an aware UTC datetime."""
    return utc(datetime.fromisoformat(str(value)))


def zone(name: str | None) -> ZoneInfo:
    """The IANA time zone ``name`` (422 when unknown)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidField(f"timezone: unknown time zone {name!r}") from exc


def next_occurrence(
    cron: str, tz_name: str | None, after: datetime, *, inclusive: bool = False
) -> datetime:
    """The first occurrence of ``cron`` in zone ``tz_name`` after ``after`` (UTC).

    ``inclusive``: an occurrence exactly at ``after`` counts.
    """
    local = utc(after).astimezone(zone(tz_name))
    if inclusive:
        local -= timedelta(seconds=1)
    nxt: datetime = croniter(cron, local).get_next(datetime)
    return utc(nxt)


def check_cron(cron: str) -> str:
    cron = cron.strip()
    if not croniter.is_valid(cron):
        raise InvalidField(f"cron: {cron!r} is not a valid cron expression")
    return cron


def future(moment: datetime, now: datetime, field: str) -> datetime:
    moment = utc(moment)
    if moment <= now:
        raise InvalidField(f"{field}: {moment.isoformat()} is not in the future")
    return moment
