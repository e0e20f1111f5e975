"""The closed-loop board: follow-ups of unhappy customers, open past SLA, recovered or not.

A follow-up is created for every response with CSAT <= 2, NPS <= 6 or a complaint (``followups``); it is
recovered once the same customer answers CSAT >= 4 within 30 days, overdue once open past its SLA due
time. Status and recovery are decided at query time, as of ``now()``, by the SQL of ``sql.followups``
(one set of rules for the boards, ``cxpulse followups`` and the tests), here with the board's bounds:
follow-ups whose trigger minute lies in the dashboard range and whose channel is selected.

Layout: open follow-ups past SLA per route; recovery rate by location and by channel; follow-ups
created every hour; the latest follow-ups.
"""

from __future__ import annotations

from typing import Final

from dashboards.fixes_board import fixes_annotation
from dashboards.panels import JSON, Column, Layout, dashboard, table, time_series
from dashboards.variables import MASKED, MIN_N_SQL, SCOPE_FILTER, board_variables
from sql.followups import (
    GRAFANA_MACROS,
    Bounds,
    followup_status_sql,
    open_past_sla_sql,
    recovery_rate_sql,
)

UID: Final = "cxpulse-closed-loop"
TITLE: Final = "cxpulse / Closed loop"
TIME_FROM: Final = "now-30d"
"""A follow-up has 30 days to recover: a month shows most of them decided."""
LIST_LIMIT: Final = 200
BOARD_BOUNDS: Final = Bounds(f"{GRAFANA_MACROS.trigger_filter} AND {SCOPE_FILTER}",
                             GRAFANA_MACROS.from_time, GRAFANA_MACROS.as_of)
"""Triggers whose minute lies in the range, in the selected scope (channel, touchpoint, stage,
partner, location), decided as of ``now()``. A recovering response may come from anywhere."""
RATE_COLUMNS: Final = (
    Column("followups_created", "Follow-ups"), Column("recoverable", "Recoverable"),
    Column("recovered", "Recovered"), Column("open_followups", "Open"),
    Column("overdue_followups", "Past SLA"),
    Column("recovery_pct", "Recovery rate", unit="percent", decimals=1, no_value=MASKED),
)
LIST_COLUMNS: Final = (
    Column("triggered_at", "Triggered", unit="dateTimeAsIso"), Column("event_id", "Event", unit="string"),
    Column("channel", "Channel", unit="string"), Column("touchpoint", "Touchpoint", unit="string"),
    Column("route", "Route", unit="string"), Column("csat", "CSAT"), Column("nps", "NPS"),
    Column("complaint", "Complaint"), Column("status", "Status", unit="string"),
    Column("due_at", "Due", unit="dateTimeAsIso"),
    Column("recovered_at_ms", "Recovered at", unit="dateTimeAsIso"),
)
RECOVERY_NOTE: Final = ("Recovered = the same customer answered CSAT >= 4 within 30 days after the "
                        "trigger (on any channel); recovery rate = recovered / follow-ups with a known "
                        "customer x 100 (anonymous ones cannot be recovered); recent follow-ups still "
                        "have time to recover.")


def created_sql() -> str:
    """Long format: (``time`` = trigger hour, ``channel``, ``followups_created``)."""
    return "\n".join([
        "SELECT toStartOfHour(occurred_at) AS time, channel, sum(cancelled = 0) AS followups_created",
        "FROM followups FINAL",
        f"WHERE {BOARD_BOUNDS.trigger_filter}",
        "GROUP BY time, channel",
        "ORDER BY time, channel",
    ])


def list_sql() -> str:
    """The latest follow-ups (trigger time, newest first), at most ``LIST_LIMIT``, with status now."""
    names = ", ".join("occurred_at AS triggered_at" if c.name == "triggered_at" else c.name
                      for c in LIST_COLUMNS)
    return (f"SELECT {names}\nFROM ({followup_status_sql(BOARD_BOUNDS)})\n"
            f"ORDER BY occurred_at_ms DESC, event_id\nLIMIT {LIST_LIMIT}")


def past_sla_by_route() -> JSON:
    """Open follow-ups past their SLA, per route, most first."""
    return table(
        "Open follow-ups past SLA, by route",
        open_past_sla_sql(BOARD_BOUNDS),
        description="Follow-ups not recovered whose SLA due time has passed, per route (location, "
                    "partner or channel, in that order of precedence), with the oldest due time.",
        columns=[Column("route", "Route", unit="string"), Column("overdue_followups", "Past SLA"),
                 Column("oldest_due_at_ms", "Oldest due", unit="dateTimeAsIso")],
        sort_by="Past SLA",
    )


def recovery_by(key: str, header: str) -> JSON:
    """Recovery counts and rate per ``key`` (a column of ``followups``)."""
    return table(
        f"Recovery rate by {header.lower()}",
        recovery_rate_sql([key], BOARD_BOUNDS, MIN_N_SQL),
        description=f"Per {header.lower()} (empty: none): follow-ups created, recoverable, recovered, "
                    f"open and past SLA. {RECOVERY_NOTE}",
        columns=[Column(key, header, unit="string"), *RATE_COLUMNS],
        sort_by="Follow-ups",
    )


def created_over_time() -> JSON:
    """Follow-ups created per channel every hour, stacked."""
    return time_series(
        "Follow-ups created, every hour",
        created_sql(),
        description="Responses with CSAT <= 2, NPS <= 6 or a complaint, per trigger hour, stacked by "
                    "channel.",
        unit="short", decimals=0, series_label="channel", bars=True,
    )


def followup_list() -> JSON:
    """The latest follow-ups with their status now."""
    return table(
        "Latest follow-ups",
        list_sql(),
        description=f"The {LIST_LIMIT} latest follow-ups in the range, newest first: trigger, route, "
                    f"status now (open, overdue = past SLA, recovered), due time. {RECOVERY_NOTE}",
        columns=LIST_COLUMNS,
    )


def build() -> JSON:
    """The whole board as Grafana dashboard JSON."""
    layout = Layout()
    layout.add_row("Follow-ups past SLA and recovery")
    layout.add(past_sla_by_route(), width=8, height=9)
    layout.add(recovery_by("location_id", "Location"), width=8, height=9)
    layout.add(recovery_by("channel", "Channel"), width=8, height=9)
    layout.add_row("Follow-ups over time")
    layout.add(created_over_time(), width=24, height=8)
    layout.add(followup_list(), width=24, height=12)
    return dashboard(
        UID, TITLE,
        description="Closed-loop follow-ups of unhappy customers: past SLA per route, recovery rate by "
                    "location and channel, follow-ups over time and the latest ones.",
        panels=layout.panels, variables=board_variables(), tags=["cxpulse", "cx", "closed-loop"],
        time_from=TIME_FROM, refresh="1m", annotations=[fixes_annotation()],
    )
