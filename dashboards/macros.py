"""Expand the Grafana ClickHouse plugin's macros and template variables, as Grafana would.

Tests use this to run every panel's query on real ClickHouse engines. Only what our boards may use is
supported, expanded exactly as the plugin (``grafana-clickhouse-datasource``) does:

- ``$__timeFilter(col)`` -> ``col >= toDateTime(FROM) AND col <= toDateTime(TO)`` (epoch seconds);
- ``$__fromTime`` / ``$__toTime`` -> ``toDateTime(FROM)`` / ``toDateTime(TO)``;
- ``${var:singlequote}`` -> ``'a','b'`` (each value quoted and escaped);
- ``$var`` / ``${var}`` -> for a multi-value variable the quoted list (the plugin's default for
  multi-value variables), for a single value the value itself (only plain tokens: letters, digits,
  ``_ . : -``).

Anything else that starts with ``$`` is rejected with :class:`MacroError`, in particular
``$__timeInterval`` (it expands to ``toStartOfInterval``, which ClickHouse 18.16 lacks).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sql.client import checked_identifier

SUPPORTED: Final = ("$__timeFilter(column)", "$__fromTime", "$__toTime", "${var:singlequote}", "$var")
_TOKEN: Final = re.compile(
    r"\$(?:__(?P<macro>\w+)(?:\((?P<args>[^)]*)\))?"
    r"|\{(?P<braced>\w+)(?::(?P<format>\w+))?\}"
    r"|(?P<plain>[A-Za-z_]\w*))"
)
_RAW_VALUE: Final = re.compile(r"^[\w.:-]*$")
_RELATIVE: Final = re.compile(r"^(\d+)([smhdw])$")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Variables = Mapping[str, str | Sequence[str]]
"""Variable name -> its value: a ``str`` for a single value, a sequence for a multi-value one."""


class MacroError(ValueError):
    """A query uses a macro, variable or format this expander (and so our boards) does not allow."""


@dataclass(frozen=True)
class TimeRange:
    """A panel's time range, epoch seconds (UTC), both ends included as the plugin compares them."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"time range starts after it ends: {self.start} > {self.end}")


def relative_seconds(text: str) -> int:
    """A Grafana relative time such as ``"5m"``, ``"1h"``, ``"24h"``, ``"7d"`` -> seconds."""
    match = _RELATIVE.match(text)
    if not match:
        raise MacroError(f"unsupported relative time {text!r}; use e.g. 5m, 1h, 24h, 7d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def panel_range(panel: Mapping[str, Any], dashboard_range: TimeRange, now: int) -> TimeRange:
    """The range Grafana queries a panel with: its ``timeFrom`` override, else the dashboard's range.

    A ``timeFrom`` of ``"5m"`` means the last 5 minutes up to ``now`` (epoch seconds).
    """
    if panel.get("timeShift"):
        raise MacroError(f"panel {panel.get('title')!r}: timeShift is not supported")
    time_from = panel.get("timeFrom")
    if not time_from:
        return dashboard_range
    return TimeRange(now - relative_seconds(str(time_from)), now)


def quote(value: str) -> str:
    """A ClickHouse string literal, as Grafana's ``singlequote`` format (backslashes escaped too)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quoted_list(name: str, value: str | Sequence[str]) -> str:
    values = [value] if isinstance(value, str) else list(value)
    if not values:
        raise MacroError(f"variable ${name} has no value: IN () is not valid SQL")
    return ",".join(quote(v) for v in values)


def _variable(name: str, fmt: str | None, variables: Variables) -> str:
    if name not in variables:
        raise MacroError(f"unknown template variable ${name}; known: {sorted(variables)}")
    value = variables[name]
    if fmt == "singlequote":
        return _quoted_list(name, value)
    if fmt is not None:
        raise MacroError(f"unsupported variable format ${{{name}:{fmt}}}; use :singlequote")
    if not isinstance(value, str):
        return _quoted_list(name, value)
    if not _RAW_VALUE.match(value):
        raise MacroError(f"value of ${name} is not a plain token, use ${{{name}:singlequote}}")
    return value


def _macro(name: str, args: str | None, time_range: TimeRange) -> str:
    if name == "timeFilter":
        parts = [a.strip() for a in (args or "").split(",") if a.strip()]
        if len(parts) != 1:
            raise MacroError(f"$__timeFilter takes one column, got {args!r}")
        column = checked_identifier(parts[0])
        return (f"{column} >= toDateTime({time_range.start}) AND "
                f"{column} <= toDateTime({time_range.end})")
    if name in ("fromTime", "toTime"):
        if args is not None and args.strip():
            raise MacroError(f"$__{name} takes no arguments, got {args!r}")
        return f"toDateTime({time_range.start if name == 'fromTime' else time_range.end})"
    raise MacroError(f"unsupported macro $__{name}; boards may use only {', '.join(SUPPORTED)}")


def expand(sql: str, time_range: TimeRange, variables: Variables | None = None) -> str:
    """``sql`` with every macro and variable replaced; :class:`MacroError` on anything unsupported.

    Expanded text is never scanned again, so a ``$`` inside a variable's value stays a literal.
    """
    variables = variables or {}
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(sql):
        _no_stray_dollar(sql[pos:match.start()])
        out.append(sql[pos:match.start()])
        if match.group("macro") is not None:
            out.append(_macro(match.group("macro"), match.group("args"), time_range))
        elif match.group("braced") is not None:
            out.append(_variable(match.group("braced"), match.group("format"), variables))
        else:
            out.append(_variable(match.group("plain"), None, variables))
        pos = match.end()
    _no_stray_dollar(sql[pos:])
    out.append(sql[pos:])
    return "".join(out)


def _no_stray_dollar(text: str) -> None:
    if "$" in text:
        snippet = text[text.index("$"):][:30]
        raise MacroError(f"unsupported $-expression near {snippet!r}")
