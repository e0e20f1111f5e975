"""Opening hours: parsing (and what a bad entry is told), and whether and since when a location is
open in its local time zone (overnight windows, weekdays, DST, adjacent windows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from connectors.kiosk.opening_hours import OpeningHours, open_since, parse_opening_hours

VN = ZoneInfo("Asia/Ho_Chi_Minh")  # UTC+7 all year, no DST
BERLIN = ZoneInfo("Europe/Berlin")  # UTC+1, UTC+2 in summer


def is_open(hours: OpeningHours, tz: tzinfo, now_utc: datetime) -> bool:
    """Open at ``now_utc``: inside an opening (the gauges ask ``open_since``)."""
    return open_since(hours, tz, now_utc) is not None


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_parse_opening_hours_forms() -> None:
    daily = parse_opening_hours("08:00-22:00").windows
    assert [(sorted(w.days), w.start_min, w.end_min) for w in daily] == [(list(range(7)), 480, 1320)]
    [overnight] = parse_opening_hours("20:00-02:00").windows
    assert (overnight.start_min, overnight.end_min) == (1200, 120)
    week = parse_opening_hours("Mon-Fri 08:00-22:00; sat 9:00 - 18:30, fri-mon 23:00-24:00").windows
    assert [sorted(w.days) for w in week] == [[0, 1, 2, 3, 4], [5], [0, 4, 5, 6]]
    assert (week[1].start_min, week[1].end_min, week[2].end_min) == (540, 1110, 1440)
    assert parse_opening_hours("00:00-24:00").windows[0].end_min == 1440


@pytest.mark.parametrize(("text", "problem"), [
    ("", "is not"), ("8-22", "is not"), ("08:00 to 22:00", "is not"), ("mon-fri", "is not"),
    ("25:00-26:00", "not a time of day"), ("08:60-09:00", "not a time of day"),
    ("24:00-02:00", "not a time of day"), ("08:00-24:30", "not a time of day"),
    ("08:00-08:00", "same time"), ("00:00-00:00", "same time"),
    ("xyz 08:00-10:00", "unknown weekday"), ("08:00-12:00,", "is not"),
])
def test_bad_opening_hours_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_opening_hours(text)


def test_vietnam_hours_in_local_time_all_year() -> None:
    hours = parse_opening_hours("08:00-22:00")
    for month in (1, 7):  # no DST: the same UTC edges in winter and summer
        assert not is_open(hours, VN, utc(2026, month, 15, 0, 59))  # 07:59 local
        assert is_open(hours, VN, utc(2026, month, 15, 1, 0))  # 08:00 local
        assert is_open(hours, VN, utc(2026, month, 15, 14, 59))  # 21:59 local
        assert not is_open(hours, VN, utc(2026, month, 15, 15, 0))  # 22:00 local
        assert open_since(hours, VN, utc(2026, month, 15, 9, 0)) == utc(2026, month, 15, 1, 0)


def test_overnight_window_closes_the_next_day() -> None:
    hours = parse_opening_hours("20:00-02:00")
    assert not is_open(hours, VN, utc(2026, 3, 10, 12, 59))  # 19:59 local
    assert is_open(hours, VN, utc(2026, 3, 10, 13, 0))  # 20:00 local
    assert is_open(hours, VN, utc(2026, 3, 10, 18, 59))  # 01:59 local, the next day
    assert not is_open(hours, VN, utc(2026, 3, 10, 19, 0))  # 02:00 local
    assert open_since(hours, VN, utc(2026, 3, 10, 18, 0)) == utc(2026, 3, 10, 13, 0)


def test_weekday_windows_and_overnight_belongs_to_its_opening_day() -> None:
    hours = parse_opening_hours("mon-fri 08:00-22:00, sat 20:00-02:00")  # closed on Sunday day
    saturday = datetime(2026, 5, 9, 12, 0, tzinfo=VN)  # 2026-05-09 is a Saturday
    assert saturday.weekday() == 5
    assert not is_open(hours, VN, saturday)  # Saturday noon: only the evening window
    assert is_open(hours, VN, saturday + timedelta(hours=13))  # Sunday 01:00, from Saturday's window
    assert not is_open(hours, VN, saturday + timedelta(hours=24))  # Sunday noon
    assert is_open(hours, VN, saturday + timedelta(hours=48))  # Monday noon
    assert not is_open(hours, VN, saturday - timedelta(hours=35))  # Friday 01:00: no Thursday night
    assert is_open(hours, VN, saturday - timedelta(hours=23))  # Friday 13:00


def test_dst_follows_the_local_wall_clock() -> None:
    hours = parse_opening_hours("08:00-22:00")
    assert not is_open(hours, BERLIN, utc(2026, 1, 15, 6, 59)) and is_open(hours, BERLIN, utc(2026, 1, 15, 7))
    assert not is_open(hours, BERLIN, utc(2026, 7, 15, 5, 59)) and is_open(hours, BERLIN, utc(2026, 7, 15, 6))


def test_adjacent_windows_are_one_opening() -> None:
    split = parse_opening_hours("mon-fri 08:00-12:00, mon-fri 12:00-18:00")
    monday = utc(2026, 5, 11, 14, 0)  # a Monday, UTC
    assert open_since(split, UTC, monday) == utc(2026, 5, 11, 8, 0)
    always = open_since(parse_opening_hours("00:00-24:00"), VN, monday)
    assert always is not None and monday - always > timedelta(days=7)  # never reopens at midnight


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_open(parse_opening_hours("08:00-22:00"), UTC, datetime(2026, 1, 1))  # noqa: DTZ001
