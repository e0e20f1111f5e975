"""Boards as code: every board builds, matches its committed JSON, and queries only what exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dashboards import alerts, build, closed_loop, contact_center, journey_map, queries
from dashboards.macros import TimeRange, expand
from dashboards.panels import CLICKHOUSE, GRID_WIDTH, PROMETHEUS, annotation_queries, sql_queries, walk_panels
from dashboards.variables import MIN_N_SQL, SCOPE_FILTER, SCOPE_VARIABLES
from sql.access import BOARD_TABLES
from sql.figures import FCR_COUNTS, MIN_N
from sql.migrate import MIGRATIONS_DIR

BOARDS = {name: make() for name, make in build.BOARDS.items()}
QUERIES = [(name, panel, sql) for name, board in BOARDS.items() for panel, sql in sql_queries(board)]
QUERY_IDS = [f"{name}:{panel['id']}" for name, panel, _sql in QUERIES]
ANNOTATIONS = [(name, item, sql) for name, board in BOARDS.items() for item, sql in annotation_queries(board)]
ALL_SQL = [(name, sql) for name, _item, sql in QUERIES + ANNOTATIONS]
ALL_SQL_IDS = [*QUERY_IDS, *(f"{name}:annotation:{item['name']}" for name, item, _sql in ANNOTATIONS)]
MINUTE_TABLES = {"minute_counts", "fcr_contacts"}
EVENT_TABLES = {"minute_counts", "fcr_contacts", "touchpoint_events"}
REPLACING_TABLES = ("fcr_contacts", "followups", "alerts", "fixes", "fix_comparisons")
"""ReplacingMergeTree tables: a board reads their latest rows, with FINAL."""
PROVISIONING = Path(build.__file__).parent / "provisioning"
FORBIDDEN = ("DateTime64", "toStartOfInterval", "$__timeInterval", "$__interval", "OVER (", "OVER(",
             "JSONExtract", "avg(", "avgIf(")
"""Constructs ClickHouse 18.16 lacks, macros that expand to them, window functions, and averages
(ratios come from summed counts, never from averaging)."""
_TABLE_REF = re.compile(r"\b(?:FROM|(?<!ARRAY )JOIN)\s+([A-Za-z_][\w.]*)", re.IGNORECASE)
_CREATE_TABLE = re.compile(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_]\w*)", re.IGNORECASE)
_DROP_TABLE = re.compile(r"DROP TABLE (?:IF EXISTS )?(\w+)")


def migration_tables() -> set[str]:
    """Tables the migrations leave: created, and not dropped by a later migration."""
    tables: set[str] = set()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        text = path.read_text()
        tables |= set(_CREATE_TABLE.findall(text))
        tables -= set(_DROP_TABLE.findall(text))
    return tables


def referenced_tables(sql: str) -> set[str]:
    return {name.split(".")[-1] for name in _TABLE_REF.findall(sql)}


def board_variables(board: dict[str, Any]) -> dict[str, list[str]]:
    return {v["name"]: ["x"] for v in board["templating"]["list"]}


def test_every_board_is_registered() -> None:
    assert {"ops_overview", "contact_center", "closed_loop", "journey_map", "pain_points", "fixes",
            "partners_locations"} <= BOARDS.keys()


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_builds_with_uid_title_and_panels(name: str) -> None:
    board = BOARDS[name]
    assert board["uid"] and board["title"] and board["panels"]
    assert len(board["uid"]) <= 40  # Grafana's limit
    assert build.render(board).endswith("}\n")


def test_generated_json_matches_the_boards() -> None:
    assert build.drift() == [], "run `make dashboards` and commit dashboards/generated/"


def test_uids_are_unique_across_boards() -> None:
    uids = [b["uid"] for b in BOARDS.values()]
    assert len(uids) == len(set(uids))


def test_check_mode_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build.main(["--check", "--dir", str(tmp_path)]) == 1  # nothing generated yet
    build.main(["--dir", str(tmp_path)])
    assert build.main(["--check", "--dir", str(tmp_path)]) == 0
    target = tmp_path / "ops_overview.json"
    target.write_text(target.read_text().replace("CSAT", "CSAT!", 1))
    assert build.main(["--check", "--dir", str(tmp_path)]) == 1
    build.main(["--dir", str(tmp_path)])
    (tmp_path / "orphan.json").write_text("{}\n")
    assert build.main(["--check", "--dir", str(tmp_path)]) == 1
    assert "orphan.json" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panels_have_unique_ids_and_fit_the_grid_without_overlap(name: str) -> None:
    panels = list(walk_panels(BOARDS[name]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        pos = p["gridPos"]
        assert {"x", "y", "w", "h"} <= pos.keys(), p["title"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= GRID_WIDTH and pos["w"] > 0 and pos["h"] > 0
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & mine, f"panel {p['title']!r} overlaps another"
        cells |= mine


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_panel_has_a_title_a_description_and_a_known_datasource(name: str) -> None:
    for panel in walk_panels(BOARDS[name]):
        assert panel["title"]
        if panel["type"] == "row":
            continue
        assert panel.get("description"), panel["title"]
        assert panel["targets"], panel["title"]
        for target in [panel, *panel["targets"]]:
            assert target["datasource"] in (CLICKHOUSE, PROMETHEUS), panel["title"]


@pytest.mark.parametrize(("name", "panel", "sql"), QUERIES, ids=QUERY_IDS)
def test_clickhouse_targets_use_the_sql_editor_with_a_consistent_format(
        name: str, panel: dict[str, Any], sql: str) -> None:
    for target in panel["targets"]:
        assert target["editorType"] == "sql" and target["refId"]
        expected = (0, "timeseries") if panel["type"] == "timeseries" else (1, "table")
        assert (target["format"], target["queryType"]) == expected, panel["title"]


def test_queries_exist() -> None:
    assert len(QUERIES) >= 4


@pytest.mark.parametrize(("name", "sql"), ALL_SQL, ids=ALL_SQL_IDS)
def test_queries_reference_only_migrated_tables(name: str, sql: str) -> None:
    tables = referenced_tables(sql)
    assert tables, f"no table found in {sql[:80]!r}"
    assert tables <= migration_tables(), f"{sql[:80]!r} queries {tables - migration_tables()}"


def test_table_parser() -> None:
    assert referenced_tables("SELECT 1 FROM db.a AS x JOIN b USING k WHERE y IN (SELECT z FROM c)") == {
        "a", "b", "c"}
    assert {"touchpoint_events", "minute_counts"} <= migration_tables()
    assert "minute_satisfaction" not in migration_tables()  # dropped by a later migration


@pytest.mark.parametrize(("name", "sql"), ALL_SQL, ids=ALL_SQL_IDS)
def test_queries_avoid_constructs_the_old_server_lacks(name: str, sql: str) -> None:
    for forbidden in FORBIDDEN:
        assert forbidden.lower() not in sql.lower(), f"{sql[:80]!r} uses {forbidden}"


@pytest.mark.parametrize(("name", "sql"), ALL_SQL, ids=ALL_SQL_IDS)
def test_queries_use_only_supported_macros_and_defined_variables(name: str, sql: str) -> None:
    expanded = expand(sql, TimeRange(0, 60), board_variables(BOARDS[name]))
    assert "$" not in expanded


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_variables_query_only_migrated_tables(name: str) -> None:
    for variable in BOARDS[name]["templating"]["list"]:
        if variable["type"] == "textbox":
            continue
        assert variable["datasource"] == CLICKHOUSE
        assert referenced_tables(variable["query"]) <= migration_tables()
        expand(variable["query"], TimeRange(0, 60), board_variables(BOARDS[name]))


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_board_has_the_scope_variables_multi_with_all_and_min_n(name: str) -> None:
    found = {v["name"]: v for v in BOARDS[name]["templating"]["list"]}
    for variable, _label, column in SCOPE_VARIABLES:
        v = found[variable]
        assert (v["type"], v["multi"], v["includeAll"]) == ("query", True, True)
        assert v["query"].startswith(f"SELECT DISTINCT if({column} = '', '(none)', {column})")
        assert "FROM minute_counts" in v["query"]
    assert (found["min_n"]["type"], found["min_n"]["query"]) == ("textbox", str(MIN_N))


RANGE_FILTERS = ("$__timeFilter(minute)", "toStartOfMinute(occurred_at) >= $__fromTime AND "
                 "toStartOfMinute(occurred_at) <= $__toTime", journey_map.PERIODS_FILTER)
"""How a read of an event table selects the range: minute buckets in it (the journey map: and the
previous period of the same length)."""


@pytest.mark.parametrize(("name", "sql"), ALL_SQL, ids=ALL_SQL_IDS)
def test_every_source_is_filtered_on_the_range_and_the_scope_variables(name: str, sql: str) -> None:
    tables = _TABLE_REF.findall(sql)
    if set(tables) <= EVENT_TABLES:  # every read: the minute in range, the selected scope
        assert sql.count(SCOPE_FILTER) == len(tables), sql[:80]
        assert sum(sql.count(f) for f in RANGE_FILTERS) == len(tables), sql[:80]
    elif set(tables) <= {"fixes", "fix_comparisons"}:  # fixes of the range (comparisons: per fix)
        assert sql.count("FROM fixes FINAL WHERE at >= $__fromTime AND at <= $__toTime") == 1, sql[:80]
    elif "comment_docs" in tables:  # comments: every event read in the selected scope, near the range
        assert set(tables) <= {"touchpoint_events", "comment_docs"}, sql[:80]
        assert sql.count(SCOPE_FILTER) == tables.count("touchpoint_events"), sql[:80]
        assert "$__toTime" in sql, sql[:80]
    elif "followups" in tables:  # every follow-up read: the trigger's minute in range, a selected channel
        flat = " ".join(sql.split())
        assert flat.count(f"followups FINAL WHERE {closed_loop.BOARD_BOUNDS.trigger_filter}") == 1, sql[:80]
        assert flat.count(closed_loop.BOARD_BOUNDS.trigger_filter) == tables.count("followups")
        assert SCOPE_FILTER in closed_loop.BOARD_BOUNDS.trigger_filter
    else:  # an alert query: alerts overlapping the range, channel scopes on a selected channel
        assert set(tables) == {"alerts"}, sql[:80]
        assert alerts.ALERT_CHANNEL_FILTER in sql and "$__toTime" in sql and "$__fromTime" in sql


def test_ops_overview_stat_windows() -> None:
    stats = [p for p in walk_panels(BOARDS["ops_overview"]) if p["type"] == "stat"]
    assert sorted({p["timeFrom"] for p in stats}) == ["1h", "24h", "5m"]
    assert len(stats) == 12  # CSAT %, NPS, CES mean, volume x three windows


def test_ratios_divide_by_nullif_so_empty_groups_are_null() -> None:
    for _name, panel, sql in QUERIES:
        for line in sql.splitlines():
            if " / " in line:
                assert "/ nullIf(" in line, f"{panel['title']!r}: {line}"


def test_every_ratio_on_a_board_is_masked_below_min_n() -> None:
    for _name, panel, sql in QUERIES:
        for line in sql.splitlines():
            if "/ nullIf(" in line and "wilson" not in line:
                assert MIN_N_SQL in line or "scope_problems / nullIf(customer_problems, 0)" in line, \
                    f"{panel['title']!r}: {line}"


def test_provisioning_declares_the_datasource_uids_the_boards_use() -> None:
    datasources = (PROVISIONING / "datasources.yaml").read_text()
    for ds in (CLICKHOUSE, PROMETHEUS):
        assert f"uid: {ds['uid']}" in datasources and f"type: {ds['type']}" in datasources
    assert "port: 19000" in datasources and "defaultDatabase: cxpulse" in datasources
    assert "url: http://127.0.0.1:19090" in datasources
    assert "password: $CXPULSE_" in datasources  # from the environment, never a literal


def test_provisioning_loads_the_generated_boards() -> None:
    providers = (PROVISIONING / "dashboards.yaml").read_text()
    assert "type: file" in providers and "path: $CXPULSE_DASHBOARDS_DIR" in providers
    assert "dashboards/generated" in providers


@pytest.mark.parametrize(("name", "panel", "sql"), QUERIES, ids=QUERY_IDS)
def test_queries_carry_no_bound_parameters(name: str, panel: dict[str, Any], sql: str) -> None:
    assert "%(" not in sql, f"{panel['title']!r}: Grafana cannot bind parameters"


@pytest.mark.parametrize(("name", "sql"), ALL_SQL, ids=ALL_SQL_IDS)
def test_replacing_tables_are_read_with_final(name: str, sql: str) -> None:
    for table in REPLACING_TABLES:
        reads = re.findall(rf"FROM {table}\b(\s+FINAL\b)?", sql)
        # followups: only the set of customers with a follow-up may skip FINAL (duplicates do not matter)
        plain = sql.count(f"SELECT customer_id FROM {table} WHERE") if table == "followups" else 0
        assert sum(1 for r in reads if not r) == plain, f"{sql[:80]!r}: read {table} with FINAL"


@pytest.mark.parametrize(("name", "panel", "sql"), QUERIES, ids=QUERY_IDS)
def test_fcr_contacts_is_read_with_final_and_filtered_on_the_contacts_minute(
        name: str, panel: dict[str, Any], sql: str) -> None:
    reads = re.findall(r"FROM fcr_contacts\b(\s+FINAL\b)?", sql)
    assert all(reads), f"{panel['title']!r}: read fcr_contacts with FINAL (latest outcome per contact)"
    on_minute = len(re.findall(r"FROM fcr_contacts FINAL\s+WHERE\s+(?:\$__timeFilter\(minute\)|"
                               r"toStartOfMinute\(occurred_at\) >= \$__fromTime)", sql))
    assert on_minute == len(reads), panel["title"]


def test_fcr_outcomes_are_decided_against_now_with_the_rules_of_sql_figures() -> None:
    for count, sql in FCR_COUNTS.items():
        assert queries.decided_now(count) == sql.replace(queries.AS_OF, "now()")
    assert queries.FCR_SUCCESS.sql.endswith("decides_at <= now())")
    assert queries.FCR_PENDING.sql.endswith("decides_at > now())")
    success, failure = queries.FCR_SUCCESS.sql, queries.FCR_FAILURE.sql
    assert queries.FCR_PCT.sql == (f"if({success} + {failure} >= {MIN_N_SQL}, "
                                   f"100 * {success} / nullIf({success} + {failure}, 0), NULL)")


def test_decided_now_rejects_a_count_with_another_bound_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FCR_COUNTS, "odd", "sum(decides_at > toDateTime(%(other)s))")
    with pytest.raises(ValueError, match="bound parameter"):
        queries.decided_now("odd")


def panel_titled(board: str, title: str) -> dict[str, Any]:
    [panel] = [p for p in walk_panels(BOARDS[board]) if p["title"] == title]
    return panel


def table_columns(panel: dict[str, Any]) -> list[str]:
    return [o["matcher"]["options"] for o in panel["fieldConfig"]["overrides"]]


def test_contact_center_panels() -> None:
    titles = {p["title"]: p["type"] for p in walk_panels(BOARDS["contact_center"]) if p["type"] != "row"}
    assert titles == {
        "FCR % by channel": "stat", "Repeat-contact rate by channel": "stat",
        "Pending first contacts by channel": "stat", "FCR % by channel, every hour": "timeseries",
        "FCR gap by channel: survey vs. operational": "table", "Complaints by channel": "table",
        "FCR by agent": "table", "FCR by contact reason": "table",
    }
    assert BOARDS["contact_center"]["time"] == {"from": contact_center.TIME_FROM, "to": "now"}


@pytest.mark.parametrize(("title", "expected"), [
    ("FCR by agent", ["agent_id", "fcr_first_contacts", "fcr_success", "fcr_failure", "fcr_pending",
                      "fcr_pct"]),
    ("FCR by contact reason", ["contact_reason", "eligible_contacts", "fcr_first_contacts", "fcr_success",
                               "fcr_failure", "fcr_pending", "fcr_pct", "repeat_contacts",
                               "repeat_contact_rate"]),
    ("FCR gap by channel: survey vs. operational", ["channel", "survey_fcr_answers", "survey_fcr_pct",
                                                     "fcr_decided", "fcr_pct", "fcr_gap"]),
    ("Complaints by channel", ["channel", "contact_count", "complaint_count", "complaint_rate"]),
])
def test_contact_center_tables_show_every_column_they_query(title: str, expected: list[str]) -> None:
    panel = panel_titled("contact_center", title)
    assert table_columns(panel) == expected
    sql = panel["targets"][0]["rawSql"]
    outer = sql.split("FROM", 1)[0] if "UNION ALL" not in sql else sql.split("FROM (", 1)[0]
    assert [a for a in re.findall(r"\bAS (\w+)", outer) if a != "minute"] == expected[1:]


def test_closed_loop_panels() -> None:
    titles = {p["title"]: p["type"] for p in walk_panels(BOARDS["closed_loop"]) if p["type"] != "row"}
    assert titles == {
        "Open follow-ups past SLA, by route": "table", "Recovery rate by location": "table",
        "Recovery rate by channel": "table", "Follow-ups created, every hour": "timeseries",
        "Latest follow-ups": "table",
    }
    assert BOARDS["closed_loop"]["time"] == {"from": closed_loop.TIME_FROM, "to": "now"}
    assert f"LIMIT {closed_loop.LIST_LIMIT}" in panel_titled("closed_loop", "Latest follow-ups")[
        "targets"][0]["rawSql"]


RATE_NAMES = ["followups_created", "recoverable", "recovered", "open_followups", "overdue_followups",
              "recovery_pct"]


@pytest.mark.parametrize(("board", "title", "expected"), [
    ("ops_overview", "Satisfaction-drop alerts", [c.name for c in alerts.TABLE_COLUMNS]),
    ("closed_loop", "Recovery rate by location", ["location_id", *RATE_NAMES]),
    ("closed_loop", "Recovery rate by channel", ["channel", *RATE_NAMES]),
    ("closed_loop", "Open follow-ups past SLA, by route", ["route", "overdue_followups",
                                                           "oldest_due_at_ms"]),
    ("closed_loop", "Latest follow-ups", [c.name for c in closed_loop.LIST_COLUMNS]),
])
def test_alert_and_closed_loop_tables_show_every_column_they_query(
        board: str, title: str, expected: list[str]) -> None:
    panel = panel_titled(board, title)
    assert table_columns(panel) == expected
    outer = panel["targets"][0]["rawSql"].split("FROM", 1)[0]
    for name in expected:  # selected by name or as an alias
        assert re.search(rf"(?:\bAS |SELECT |, ){name}(?:,|\s|$)", outer), name


def test_ops_overview_annotates_alerts_and_every_board_fixes() -> None:
    [(item, sql), (_fixes, fixes_sql)] = list(annotation_queries(BOARDS["ops_overview"]))
    assert item["datasource"] == CLICKHOUSE and item["enable"] and item["name"]
    assert (item["target"]["editorType"], item["target"]["format"]) == ("sql", 1)
    aliases = re.findall(r"\bAS (\w+)", sql.split("FROM", 1)[0])
    assert aliases == ["time", "timeEnd", "text", "tags"]  # the columns Grafana maps to annotations
    assert re.findall(r"\bAS (\w+)", fixes_sql.split("FROM", 1)[0]) == ["time", "text", "tags"]
    for name, board in BOARDS.items():
        names = [a["name"] for a, _sql in annotation_queries(board)]
        assert names == (["Satisfaction-drop alerts", "Fixes"] if name == "ops_overview" else ["Fixes"])


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_boards_read_only_tables_their_user_is_given(name: str) -> None:
    board = BOARDS[name]
    queries = [sql for _panel, sql in [*sql_queries(board), *annotation_queries(board)]]
    queries += [v["query"] for v in board["templating"]["list"] if v["type"] != "textbox"]
    for sql in queries:
        tables = referenced_tables(sql) & migration_tables()
        assert tables <= set(BOARD_TABLES), f"{sql[:80]!r} reads {tables - set(BOARD_TABLES)}"
