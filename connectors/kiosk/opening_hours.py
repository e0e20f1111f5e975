"""Opening hours of a location: parsing the configured text, and whether and since when it is open.

Pure: no I/O besides ``zoneinfo`` time-zone lookups. The kiosk config validates its hours and time
zones with the config types here (:mod:`connectors.kiosk.connector`); the kiosk liveness gauges ask whether a
location is open and since when (:mod:`connectors.kiosk.liveness`).

Opening hours are local wall-clock times in the location's IANA time zone (DST handled by
``zoneinfo``): ``"08:00-22:00"`` every day; ``"20:00-02:00"`` overnight (closes the next day);
``"mon-fri 08:00-22:00, sat 09:00-18:00"`` per weekday (a day not listed is closed; an overnight
window belongs to the day it opens); ``"00:00-24:00"`` always open. Entries are separated by ``,``
or ``;``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names as in opening hours; index = ``date.weekday()`` (0 = Monday)."""

_ENTRY = re.compile(r"(?:(?P<d1>[a-z]{3})(?:-(?P<d2>[a-z]{3}))?\s+)?"
                    r"(?P<h1>\d{1,2}):(?P<m1>\d{2})\s*-\s*(?P<h2>\d{1,2}):(?P<m2>\d{2})")
_LOOKBACK_DAYS = 8  # open_since reports an opening older than this as this old


@dataclass(frozen=True)
class OpeningWindow:
    """One opening: on each weekday in ``days`` (0 = Monday) from ``start_min`` to ``end_min``.

    Minutes after local midnight; ``end_min`` is 1..1440. ``end_min <= start_min`` means the window
    closes the next day (overnight).
    """

    days: frozenset[int]
    start_min: int
    end_min: int


@dataclass(frozen=True)
class OpeningHours:
    """A location's weekly opening hours, as parsed from ``text``."""

    text: str
    windows: tuple[OpeningWindow, ...]


def _minutes(hours: str, minutes: str, *, end: bool) -> int:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and (m or not end)):
        raise ValueError(f"{hours}:{minutes} is not a time of day (00:00-23:59, or 24:00 as an end)")
    return h * 60 + m


def _days(first: str | None, last: str | None) -> frozenset[int]:
    if first is None:
        return frozenset(range(7))
    for name in (first, last):
        if name is not None and name not in DAYS:
            raise ValueError(f"unknown weekday {name!r}: use {', '.join(DAYS)}")
    a = DAYS.index(first)
    b = DAYS.index(last) if last is not None else a
    return frozenset((a + i) % 7 for i in range((b - a) % 7 + 1))  # "fri-mon" wraps the week


@lru_cache(maxsize=256)
def parse_opening_hours(text: str) -> OpeningHours:
    """``"mon-fri 08:00-22:00, sat 20:00-02:00"`` -> OpeningHours; ValueError saying what is wrong."""
    windows = []
    for raw in re.split(r"[;,]", text.strip().lower()):
        entry = raw.strip()
        match = _ENTRY.fullmatch(entry)
        if match is None:
            raise ValueError(f"opening hours entry {entry!r} is not '[DAY[-DAY] ]HH:MM-HH:MM', "
                             "e.g. '08:00-22:00', '20:00-02:00' or 'mon-fri 08:00-22:00'")
        start = _minutes(match["h1"], match["m1"], end=False)
        end = _minutes(match["h2"], match["m2"], end=True)
        if start == end:
            raise ValueError(f"opening hours entry {entry!r} opens and closes at the same time; "
                             "use 00:00-24:00 for always open")
        windows.append(OpeningWindow(_days(match["d1"], match["d2"]), start, end))
    return OpeningHours(text, tuple(windows))


def load_timezone(name: str) -> ZoneInfo:
    """An IANA time zone such as ``Asia/Ho_Chi_Minh``; ValueError naming it if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as "
                         "'Asia/Ho_Chi_Minh' or 'UTC'") from None


OpeningHoursText = Annotated[str, AfterValidator(lambda text: parse_opening_hours(text).text)]
"""Config type: opening hours text, checked when the config loads."""
TimeZoneName = Annotated[str, AfterValidator(lambda name: load_timezone(name).key)]
"""Config type: an IANA time zone name, checked when the config loads."""


def _at(day: date, minute: int, tz: tzinfo) -> datetime:
    """Local wall-clock ``minute`` (0..1440) of ``day`` in ``tz``, as a UTC datetime."""
    day += timedelta(days=minute // 1440)
    minute %= 1440
    return datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=tz).astimezone(UTC)


def open_since(hours: OpeningHours, tz: tzinfo, now_utc: datetime) -> datetime | None:
    """Start (UTC) of the opening ``now_utc`` falls in, or None when the location is closed.

    Adjacent and overlapping windows merge into one opening (``00:00-24:00`` every day never
    reopens at midnight); an opening older than 8 days is reported as starting 8 days back.
    Wall-clock times in ``tz``: on a DST change an opening lasts an hour more or less.
    """
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    today = now_utc.astimezone(tz).date()
    spans = []
    for back in range(_LOOKBACK_DAYS, -1, -1):
        day = today - timedelta(days=back)
        for w in hours.windows:
            if day.weekday() in w.days:
                end_min = w.end_min if w.end_min > w.start_min else w.end_min + 1440
                spans.append((_at(day, w.start_min, tz), _at(day, end_min, tz)))
    openings: list[list[datetime]] = []  # [start, end] of each merged opening, in time order
    for start, end in sorted(spans):
        if openings and start <= openings[-1][1]:
            openings[-1][1] = max(openings[-1][1], end)
        else:
            openings.append([start, end])
    for start, end in openings:
        if start <= now_utc < end:
            return start
    return None
