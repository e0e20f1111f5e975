"""The ops overview board: live CSAT %, NPS, CES mean and volume per channel.

Layout, top to bottom:

- three rows of stat panels, "last 5 minutes", "last hour", "last 24 hours" (a panel time override,
  so each is exact: the sum of the minute buckets that started in that window), each row with
  CSAT %, NPS, CES mean and volume, one value per channel;
- over the dashboard time range: CSAT % and volume per channel every 5 minutes, and a table per
  channel with counts and figures;
- satisfaction-drop alerts overlapping the range (a table), also drawn on the time series as
  annotations (``dashboards.alerts``).

Every panel honours the ``channel`` variable (multi-select, All by default).
"""

from __future__ import annotations

from typing import Final

from dashboards import alerts, queries
from dashboards.fixes_board import fixes_annotation
from dashboards.panels import (
    JSON,
    Column,
    Layout,
    dashboard,
    stat,
    table,
    time_series,
)
from dashboards.queries import (
    CES_MEAN,
    CES_N,
    COMPLAINT_RATE,
    CONTACTS,
    CSAT_N,
    CSAT_PCT,
    NPS,
    NPS_N,
    RESPONSES,
    VOLUME,
    Figure,
)
from dashboards.variables import MASKED, board_variables

UID: Final = "cxpulse-ops-overview"
TITLE: Final = "cxpulse / Ops overview"
WINDOWS: Final = (("5m", "last 5 minutes"), ("1h", "last hour"), ("24h", "last 24 hours"))
"""Stat windows: Grafana relative-time overrides and how the board names them."""
HEADLINE: Final = (CSAT_PCT, NPS, CES_MEAN, VOLUME)
"""The figures of each stat row, left to right."""
TABLE_FIGURES: Final = (VOLUME, RESPONSES, CSAT_PCT, CSAT_N, NPS, NPS_N, CES_MEAN, CES_N, CONTACTS,
                        COMPLAINT_RATE)


def window_stat(figure: Figure, time_from: str, window: str) -> JSON:
    """One figure per channel over a fixed recent window (``time_from``, e.g. ``"5m"``)."""
    description = (f"{figure.title}: {figure.meaning}; from the counts of the minute buckets that "
                   f"started in the {window} (current minute included).")
    if figure.may_be_null:
        description += (f' "{figure.no_value}" where a channel has fewer than min n (a variable, default 5) '
                        "answers in that window.")
    return stat(
        f"{figure.title} by channel, {window}",
        queries.by_channel([figure]),
        description=description,
        unit=figure.unit, decimals=figure.decimals, steps=figure.steps, time_from=time_from,
        no_value=figure.no_value,
    )


def csat_over_time() -> JSON:
    """CSAT % per channel every 5 minutes over the dashboard range (gaps where no responses)."""
    return time_series(
        "CSAT % by channel, every 5 minutes",
        queries.by_channel_every_5_minutes(CSAT_PCT),
        description=f"CSAT % = {CSAT_PCT.meaning}, per 5-minute bucket and channel; "
                    "a gap means no CSAT responses.",
        unit=CSAT_PCT.unit, decimals=CSAT_PCT.decimals, series_label="channel",
    )


def volume_over_time() -> JSON:
    """Events per channel every 5 minutes over the dashboard range, stacked."""
    return time_series(
        "Volume by channel, every 5 minutes",
        queries.by_channel_every_5_minutes(VOLUME),
        description="Events (responses and contacts) per 5-minute bucket, stacked by channel.",
        unit=VOLUME.unit, decimals=VOLUME.decimals, series_label="channel", bars=True,
    )


def channel_table() -> JSON:
    """Counts and figures per channel over the dashboard range."""
    columns = [Column("channel", "Channel", unit="string")]
    columns += [f.column() for f in TABLE_FIGURES]
    return table(
        "Channels over the dashboard range",
        queries.by_channel(TABLE_FIGURES),
        description="Per channel: volume, responses, CSAT %, NPS, CES mean, contacts and complaint rate; "
                    f"every figure from the channel's summed counts, with its n; \"{MASKED}\" where its "
                    "n is below min n (a variable, default 5).",
        columns=columns, sort_by=VOLUME.title,
    )


def build() -> JSON:
    """The whole board as Grafana dashboard JSON."""
    layout = Layout()
    for time_from, window in WINDOWS:
        layout.add_row(f"By channel, {window}")
        for figure in HEADLINE:
            layout.add(window_stat(figure, time_from, window), width=6, height=5)
    layout.add_row("By channel, over the dashboard time range")
    layout.add(csat_over_time(), width=12, height=9)
    layout.add(volume_over_time(), width=12, height=9)
    layout.add(channel_table(), width=24, height=8)
    layout.add_row("Satisfaction-drop alerts over the dashboard time range")
    layout.add(alerts.alerts_table(), width=24, height=8)
    return dashboard(
        UID, TITLE,
        description="Live customer experience per channel: CSAT %, NPS, CES and volume; "
                    "satisfaction-drop alerts as annotations and in a table.",
        panels=layout.panels, variables=board_variables(), tags=["cxpulse", "cx", "ops"],
        annotations=[alerts.alerts_annotation(), fixes_annotation()],
    )
