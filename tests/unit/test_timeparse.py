import pytest

from cxpulse.timeparse import parse_duration, parse_time

NOW = 1_795_514_400


def test_relative_and_absolute_times() -> None:
    assert parse_time("now", NOW) == NOW
    assert parse_time("-15m", NOW) == NOW - 900
    assert parse_time("now-24h", NOW) == NOW - 86400
    assert parse_time("2026-11-24T10:00:00Z", NOW) == NOW
    assert parse_time("2026-11-24 10:00:00", NOW) == NOW
    assert parse_time(str(NOW), NOW) == NOW
    with pytest.raises(ValueError, match="cannot read time"):
        parse_time("yesterday", NOW)


def test_durations() -> None:
    assert parse_duration("90") == 90 and parse_duration("10m") == 600 and parse_duration("24h") == 86400
    with pytest.raises(ValueError):
        parse_duration("soon")
