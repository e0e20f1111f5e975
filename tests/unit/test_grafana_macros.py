import pytest

from dashboards.macros import MacroError, TimeRange, expand, panel_range, quote, relative_seconds

RANGE = TimeRange(1_700_000_000, 1_700_003_600)


def test_time_filter_expands_like_the_plugin() -> None:
    assert expand("WHERE $__timeFilter(minute)", RANGE) == (
        "WHERE minute >= toDateTime(1700000000) AND minute <= toDateTime(1700003600)"
    )


def test_time_filter_allows_spaces_around_the_column() -> None:
    assert expand("$__timeFilter( minute )", RANGE).startswith("minute >= toDateTime(")


def test_from_and_to_time() -> None:
    assert expand("$__fromTime, $__toTime", RANGE) == "toDateTime(1700000000), toDateTime(1700003600)"
    assert expand("$__fromTime()", RANGE) == "toDateTime(1700000000)"


def test_singlequote_variable_quotes_every_value() -> None:
    sql = expand("channel IN (${channel:singlequote})", RANGE, {"channel": ["web", "kiosk"]})
    assert sql == "channel IN ('web','kiosk')"


def test_singlequote_of_a_single_value() -> None:
    assert expand("${channel:singlequote}", RANGE, {"channel": "web"}) == "'web'"


def test_quotes_and_backslashes_are_escaped() -> None:
    assert quote("o'brien\\x") == "'o\\'brien\\\\x'"
    sql = expand("${c:singlequote}", RANGE, {"c": ["a'); DROP TABLE x; --"]})
    assert sql == "'a\\'); DROP TABLE x; --'"


def test_plain_variable_multi_value_is_a_quoted_list_single_value_is_raw() -> None:
    assert expand("$channel", RANGE, {"channel": ["web", "email"]}) == "'web','email'"
    assert expand("${channel}", RANGE, {"channel": ["web"]}) == "'web'"
    assert expand("LIMIT $n", RANGE, {"n": "10"}) == "LIMIT 10"


def test_plain_single_value_must_be_a_plain_token() -> None:
    with pytest.raises(MacroError, match="singlequote"):
        expand("$channel", RANGE, {"channel": "web' OR 1=1"})


def test_a_dollar_inside_a_value_is_not_expanded_again() -> None:
    assert expand("${c:singlequote}", RANGE, {"c": ["$__timeInterval(x)"]}) == "'$__timeInterval(x)'"


@pytest.mark.parametrize("sql", [
    "$__timeInterval(minute)",
    "$__timeInterval_ms(minute)",
    "$__timeFilter_ms(minute)",
    "$__interval_s",
    "$__dateFilter(day)",
    "$__conditionalAll(x, $channel)",
])
def test_unknown_macros_are_rejected(sql: str) -> None:
    with pytest.raises(MacroError, match="unsupported macro"):
        expand(sql, RANGE, {"channel": ["web"]})


def test_time_interval_error_names_the_supported_macros() -> None:
    with pytest.raises(MacroError) as err:
        expand("SELECT $__timeInterval(minute) AS t", RANGE)
    assert "$__timeInterval" in str(err.value) and "$__timeFilter(column)" in str(err.value)


@pytest.mark.parametrize(("sql", "message"), [
    ("$__timeFilter()", "one column"),
    ("$__timeFilter(a, b)", "one column"),
    ("$__fromTime(x)", "no arguments"),
    ("$missing", "unknown template variable"),
    ("${channel:csv}", "unsupported variable format"),
    ("price > $1", "unsupported \\$-expression"),
    ("${", "unsupported \\$-expression"),
])
def test_malformed_uses_are_rejected(sql: str, message: str) -> None:
    with pytest.raises(MacroError, match=message):
        expand(sql, RANGE, {"channel": ["web"]})


def test_time_filter_column_must_be_an_identifier() -> None:
    with pytest.raises(ValueError, match="identifier"):
        expand("$__timeFilter(minute OR 1=1)", RANGE)
    with pytest.raises(ValueError, match="identifier"):
        expand("$__timeFilter(1; DROP)", RANGE)


def test_empty_multi_value_is_rejected() -> None:
    with pytest.raises(MacroError, match="no value"):
        expand("channel IN (${channel:singlequote})", RANGE, {"channel": []})


def test_sql_without_macros_is_unchanged() -> None:
    sql = "SELECT DISTINCT channel FROM minute_counts ORDER BY channel"
    assert expand(sql, RANGE) == sql


def test_time_range_must_not_be_reversed() -> None:
    with pytest.raises(ValueError, match="starts after"):
        TimeRange(10, 5)


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("1h", 3600), ("24h", 86400), ("7d", 604800),
                                               ("30s", 30)])
def test_relative_seconds(text: str, seconds: int) -> None:
    assert relative_seconds(text) == seconds


@pytest.mark.parametrize("text", ["now-5m", "5", "1y", "-5m", ""])
def test_relative_seconds_rejects_other_forms(text: str) -> None:
    with pytest.raises(MacroError):
        relative_seconds(text)


def test_panel_range_uses_time_from_override_up_to_now() -> None:
    now = 1_700_010_000
    assert panel_range({"timeFrom": "5m"}, RANGE, now) == TimeRange(now - 300, now)
    assert panel_range({"title": "no override"}, RANGE, now) == RANGE
    with pytest.raises(MacroError, match="timeShift"):
        panel_range({"timeShift": "1h"}, RANGE, now)
