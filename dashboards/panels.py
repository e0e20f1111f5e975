"""Small typed builders for Grafana 11 dashboard JSON over the official ClickHouse data source.

Every function returns plain JSON-ready dicts; nothing here knows a particular board. Panels are built
without positions and placed by :class:`Layout`, which assigns unique ids and ``gridPos`` in order.
Targets use the ``grafana-clickhouse-datasource`` plugin's SQL editor (``editorType: "sql"``) with
``format`` 0 (time series) or 1 (table), as the plugin's backend (sqlds) reads them.

Why not grafana-foundation-sdk (evaluated at 10.1.0 for the CX boards): it has no ClickHouse query
type (we would write the target class ourselves, as here), leaves every panel's id at 0 and a stat's
``options`` null unless each is set by hand, writes schemaVersion 36 rather than Grafana 11's 39, and
its builders replace none of what this module does beyond plain dict literals (layout, overrides per
column, the drift-checked rendering). These ~300 lines stay simpler than the adapter would be.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

JSON = dict[str, Any]
"""A JSON object as Grafana stores it."""

CLICKHOUSE: Final[JSON] = {"type": "grafana-clickhouse-datasource", "uid": "cxpulse-clickhouse"}
"""The ClickHouse data source, provisioned under this uid (provisioning/datasources.yaml)."""
PROMETHEUS: Final[JSON] = {"type": "prometheus", "uid": "cxpulse-prometheus"}
"""The Prometheus data source, provisioned under this uid."""

FORMAT_TIME_SERIES: Final = 0
FORMAT_TABLE: Final = 1
GRID_WIDTH: Final = 24
SCHEMA_VERSION: Final = 39
"""Dashboard JSON schema of Grafana 11.0."""
NO_VALUE: Final = "no data"
"""Shown where a figure is NULL (a group without responses has no score, not a score of 0)."""


@dataclass(frozen=True)
class Step:
    """One threshold step: ``color`` from ``value`` upwards (``None`` = from minus infinity)."""

    color: str
    value: float | None = None


def thresholds(*steps: Step) -> JSON:
    """Absolute thresholds; the first step must start at minus infinity (``value=None``)."""
    if not steps or steps[0].value is not None:
        raise ValueError("the first threshold step must have value=None (the base color)")
    return {"mode": "absolute", "steps": [{"color": s.color, "value": s.value} for s in steps]}


NEUTRAL: Final[JSON] = thresholds(Step("blue"))


def sql_target(sql: str, *, time_series: bool, ref_id: str = "A") -> JSON:
    """A raw-SQL query of the ClickHouse plugin; ``time_series`` selects format 0, else table (1)."""
    return {
        "datasource": dict(CLICKHOUSE),
        "editorType": "sql",
        "format": FORMAT_TIME_SERIES if time_series else FORMAT_TABLE,
        "queryType": "timeseries" if time_series else "table",
        "rawSql": sql,
        "refId": ref_id,
    }


def stat(title: str, sql: str, *, description: str, unit: str, decimals: int, steps: JSON,
         time_from: str | None = None, no_value: str = NO_VALUE) -> JSON:
    """A stat panel showing one value per result row (e.g. one per channel), named by its row.

    ``time_from`` (e.g. ``"5m"``) overrides the dashboard range with "last N" for this panel.
    """
    panel: JSON = {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": dict(CLICKHOUSE),
        "targets": [sql_target(sql, time_series=False)],
        "fieldConfig": {
            "defaults": {"unit": unit, "decimals": decimals, "noValue": no_value,
                         "color": {"mode": "thresholds"}, "thresholds": steps, "mappings": []},
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": True},
            "colorMode": "value", "graphMode": "none", "justifyMode": "auto",
            "orientation": "auto", "textMode": "value_and_name", "wideLayout": True,
            "showPercentChange": False,
        },
    }
    if time_from is not None:
        panel["timeFrom"] = time_from
    return panel


def time_series(title: str, sql: str, *, description: str, unit: str, decimals: int,
                series_label: str, bars: bool = False) -> JSON:
    """A time-series panel over a long-format result (time, label, value), one line per label value.

    The plugin turns long results into one series per ``series_label`` value; the series is shown
    under that value (e.g. the channel) rather than under the value column's name.
    """
    custom: JSON = {
        "drawStyle": "bars" if bars else "line", "lineWidth": 1, "fillOpacity": 60 if bars else 10,
        "showPoints": "never", "spanNulls": False, "lineInterpolation": "linear",
        "stacking": {"mode": "normal" if bars else "none", "group": "A"},
    }
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": dict(CLICKHOUSE),
        "targets": [sql_target(sql, time_series=True)],
        "fieldConfig": {
            "defaults": {"unit": unit, "decimals": decimals, "noValue": NO_VALUE,
                         "displayName": "${__field.labels." + series_label + "}",
                         "color": {"mode": "palette-classic"}, "custom": custom},
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


@dataclass(frozen=True)
class Column:
    """How a table shows one result column: header, unit and decimals."""

    name: str
    header: str
    unit: str = "short"
    decimals: int = 0
    url: bool = False
    """The value is a URL: the cell links to it."""
    no_value: str | None = None
    """Shown instead of an empty cell (e.g. ``n<5`` for a masked ratio)."""

    def properties(self) -> list[JSON]:
        """The field-override properties showing this column."""
        props: list[JSON] = [{"id": "displayName", "value": self.header},
                             {"id": "unit", "value": self.unit}, {"id": "decimals", "value": self.decimals}]
        if self.no_value is not None:
            props.append({"id": "noValue", "value": self.no_value})
        if self.url:
            props.append({"id": "links", "value": [{"title": "Open", "url": "${__value.raw}"}]})
        return props


def table(title: str, sql: str, *, description: str, columns: Sequence[Column],
          sort_by: str | None = None) -> JSON:
    """A table panel; each listed result column gets its header, unit and decimals."""
    overrides = [
        {"matcher": {"id": "byName", "options": c.name}, "properties": c.properties()}
        for c in columns
    ]
    options: JSON = {"showHeader": True, "cellHeight": "sm",
                     "footer": {"show": False, "reducer": ["sum"], "countRows": False, "fields": ""}}
    if sort_by is not None:
        options["sortBy"] = [{"displayName": sort_by, "desc": True}]
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": dict(CLICKHOUSE),
        "targets": [sql_target(sql, time_series=False)],
        "fieldConfig": {
            "defaults": {"noValue": NO_VALUE, "custom": {"align": "auto", "cellOptions": {"type": "auto"}}},
            "overrides": overrides,
        },
        "options": options,
    }


def row(title: str) -> JSON:
    """An expanded row header grouping the panels placed after it."""
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


class Layout:
    """Places panels left to right on Grafana's 24-column grid, wrapping to a new line when full.

    Ids are assigned in placement order (1, 2, ...), so every panel of a board gets a unique id.
    """

    def __init__(self) -> None:
        self.panels: list[JSON] = []
        self._x = 0
        self._y = 0
        self._line_height = 0

    def add(self, panel: JSON, *, width: int, height: int) -> None:
        """Place ``panel`` (width in grid columns, height in grid rows) after the previous one."""
        if not 0 < width <= GRID_WIDTH or height <= 0:
            raise ValueError(f"bad panel size {width}x{height}")
        if self._x + width > GRID_WIDTH:
            self._newline()
        placed = {**panel, "id": len(self.panels) + 1,
                  "gridPos": {"x": self._x, "y": self._y, "w": width, "h": height}}
        self.panels.append(placed)
        self._x += width
        self._line_height = max(self._line_height, height)

    def add_row(self, title: str) -> None:
        """Start a new line with a full-width row header."""
        if self._x:
            self._newline()
        self.add(row(title), width=GRID_WIDTH, height=1)
        self._newline()

    def _newline(self) -> None:
        self._y += self._line_height
        self._x = 0
        self._line_height = 0


def query_variable(name: str, label: str, sql: str, *, multi: bool = True,
                   include_all: bool = True) -> JSON:
    """A query template variable over ClickHouse, refreshed when the dashboard loads.

    With ``include_all``, "All" sends every option (no custom all value), so ``IN (...)`` filters
    stay plain lists of values on every engine.
    """
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": dict(CLICKHOUSE),
        "query": sql,
        "definition": sql,
        "refresh": 1,
        "multi": multi,
        "includeAll": include_all,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]} if include_all else {},
        "options": [],
        "regex": "",
        "sort": 1,
        "hide": 0,
        "skipUrlSync": False,
    }


def textbox_variable(name: str, label: str, default: str) -> JSON:
    """A free-text template variable with a default (a setting a board user may change)."""
    return {"type": "textbox", "name": name, "label": label, "query": default,
            "current": {"selected": False, "text": default, "value": default},
            "options": [{"selected": True, "text": default, "value": default}], "hide": 0,
            "skipUrlSync": False}


def annotation(name: str, sql: str, *, color: str = "red") -> JSON:
    """An annotation query on ClickHouse, drawn on every time-series panel of the board.

    Result columns: ``time``, optional ``timeEnd`` (a region), ``text`` and ``tags`` (comma-separated).
    """
    return {"name": name, "datasource": dict(CLICKHOUSE), "enable": True, "hide": False,
            "iconColor": color, "target": sql_target(sql, time_series=False, ref_id="Anno")}


def dashboard(uid: str, title: str, *, description: str, panels: list[JSON], variables: list[JSON],
              tags: Sequence[str], time_from: str = "now-6h", refresh: str = "30s",
              annotations: Sequence[JSON] = ()) -> JSON:
    """A complete dashboard (UTC, shared crosshair) ready to be provisioned from a file."""
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": sorted(tags),
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": refresh,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "links": [],
        "annotations": {"list": list(annotations)},
        "templating": {"list": variables},
        "panels": panels,
    }


def walk_panels(board: JSON) -> Iterator[JSON]:
    """Every panel of a board, including panels nested in collapsed rows."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def sql_queries(board: JSON) -> Iterator[tuple[JSON, str]]:
    """(panel, rawSql) for every ClickHouse target of every panel of ``board``."""
    for panel in walk_panels(board):
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("type") == CLICKHOUSE["type"]:
                yield panel, str(target["rawSql"])


def annotation_queries(board: JSON) -> Iterator[tuple[JSON, str]]:
    """(annotation, rawSql) for every ClickHouse annotation query of ``board``."""
    for item in board.get("annotations", {}).get("list", []):
        if item.get("datasource", {}).get("type") == CLICKHOUSE["type"]:
            yield item, str(item["target"]["rawSql"])
