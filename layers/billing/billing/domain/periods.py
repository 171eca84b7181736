"""Billing periods, counted in the customer's time zone from the billing anchor.

Rules (docs/subscriptions.md says the same):

- Period k runs from boundary(k) to boundary(k + 1). boundary(0) is the anchor itself; boundary(k) is the anchor's
  local wall-clock time (in the IANA zone ``tz``) moved on by k x interval, computed from the ANCHOR every time, never
  from the previous boundary. So the day of the month is kept where it exists and falls back to the month's last day
  where it does not (an anchor on 31 January gives 29 February in a leap year, then 31 March), and a 29 February
  yearly anchor gives 28 February in other years and 29 February again in leap years.
- Wall-clock time is kept across daylight saving changes: a period anchored at 00:00 local starts at 00:00 local,
  so a month with a DST change is an hour shorter or longer in UTC.
- A boundary whose local time does not exist (a spring-forward gap) moves forward by the gap (02:30 becomes 03:30
  in New York); one whose local time happens twice (fall back) is the earlier instant. Both are what Python's
  ``zoneinfo`` gives with ``fold=0``, so the result is deterministic.
- Bounds are returned as UTC datetimes. Periods tile time: the end of one is the start of the next.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billing.domain.errors import ValidationFailed
from billing.domain.plans import Interval


def validate_timezone(tz: str) -> str:
    """``tz`` if it names an IANA time zone; otherwise a validation error (``unknown_timezone``)."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed("unknown_timezone", f"'{tz}' is not an IANA time zone") from None
    return tz


def _aware(instant: datetime, what: str) -> None:
    if instant.utcoffset() is None:  # None without a tzinfo, or with one that gives no offset
        raise ValueError(f"{what} must be timezone-aware")


def _to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a naive local wall-clock time names: a gap moves forward, a repeated hour is the first one."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _shift(wall: datetime, interval: Interval, k: int) -> datetime:
    """``wall`` moved on by k intervals on the calendar, the day clamped to the target month's length."""
    n = k * interval.count
    if interval.unit == "week":
        return wall + timedelta(weeks=n)
    if interval.unit == "month":
        year, month0 = divmod(wall.year * 12 + wall.month - 1 + n, 12)
        month = month0 + 1
    else:
        year, month = wall.year + n, wall.month
    return wall.replace(year=year, month=month, day=min(wall.day, calendar.monthrange(year, month)[1]))


def boundary(anchor: datetime, tz: str, interval: Interval, k: int) -> datetime:
    """The start of period ``k`` (k >= 0), in UTC."""
    _aware(anchor, "the anchor")
    if k < 0:
        raise ValueError("period indexes start at 0")
    if k == 0:
        return anchor.astimezone(UTC)
    zone = ZoneInfo(tz)
    wall = anchor.astimezone(zone).replace(tzinfo=None)
    return _to_utc(_shift(wall, interval, k), zone)


def period_bounds(anchor: datetime, tz: str, interval: Interval, index: int) -> tuple[datetime, datetime]:
    """Period ``index`` as (start, end) in UTC; the end is the next period's start."""
    return boundary(anchor, tz, interval, index), boundary(anchor, tz, interval, index + 1)


def period_index_at(anchor: datetime, tz: str, interval: Interval, instant: datetime) -> int:
    """The index of the period that contains ``instant`` (start <= instant < end); ``instant`` >= ``anchor``."""
    _aware(anchor, "the anchor")
    _aware(instant, "the instant")
    if instant < anchor:
        raise ValueError("an instant before the anchor is in no period")
    zone = ZoneInfo(tz)
    first, then = anchor.astimezone(zone), instant.astimezone(zone)
    if interval.unit == "week":
        k = (then.date() - first.date()).days // (7 * interval.count)
    elif interval.unit == "month":
        k = ((then.year - first.year) * 12 + then.month - first.month) // interval.count
    else:
        k = (then.year - first.year) // interval.count
    k = max(k, 0)  # the estimate is off by at most one period either way
    while k > 0 and boundary(anchor, tz, interval, k) > instant:
        k -= 1
    while boundary(anchor, tz, interval, k + 1) <= instant:
        k += 1
    return k


def local_days_after(instant: datetime, tz: str, days: int) -> datetime:
    """``days`` calendar days after ``instant`` at the same local wall-clock time (a trial's end), in UTC."""
    _aware(instant, "the instant")
    if days == 0:
        return instant.astimezone(UTC)
    zone = ZoneInfo(tz)
    return _to_utc(instant.astimezone(zone).replace(tzinfo=None) + timedelta(days=days), zone)
