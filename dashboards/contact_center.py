"""The contact-center board: first-contact resolution (FCR), repeat contacts, complaints, the FCR gap.

FCR follows METRICS.md: a first contact succeeds once 7 days passed with no repeat of the same
(customer, contact reason) and it was resolved; it fails as soon as it was unresolved or repeated;
until then it is pending, shown on its own and never as a success. FCR % = successes / (successes +
failures), attributed to the first contact's minute, channel and agent. So a recent range has few
decided successes yet, which is why the board opens on the last 30 days.

Layout, top to bottom:

- by channel: FCR %, repeat-contact rate and pending first contacts (stats), FCR % every hour;
- by channel: survey FCR % next to operational FCR % (the FCR gap), and complaints;
- FCR by agent and by contact reason (tables).

Every panel covers the dashboard time range (contacts whose minute starts in it) and honours the
``channel`` variable (multi-select, All by default), the same variable as the ops board's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from dashboards import queries
from dashboards.fixes_board import fixes_annotation
from dashboards.panels import JSON, Column, Layout, dashboard, stat, table, time_series
from dashboards.queries import (
    COMPLAINT_RATE,
    COMPLAINTS,
    CONTACTS,
    ELIGIBLE_CONTACTS,
    FCR_CONTACTS,
    FCR_FAILURE,
    FCR_FIRST_CONTACTS,
    FCR_GAP,
    FCR_PCT,
    FCR_PENDING,
    FCR_SUCCESS,
    GAP_FIGURES,
    REPEAT_CONTACT_RATE,
    REPEAT_CONTACTS,
    Figure,
)
from dashboards.variables import MASKED, board_variables

UID: Final = "cxpulse-contact-center"
TITLE: Final = "cxpulse / Contact center"
TIME_FROM: Final = "now-30d"
"""Outcomes take 7 days to decide: a month shows mostly decided first contacts."""
AGENT_FIGURES: Final = (FCR_FIRST_CONTACTS, FCR_SUCCESS, FCR_FAILURE, FCR_PENDING, FCR_PCT)
REASON_FIGURES: Final = (ELIGIBLE_CONTACTS, *AGENT_FIGURES, REPEAT_CONTACTS, REPEAT_CONTACT_RATE)
COMPLAINT_FIGURES: Final = (CONTACTS, COMPLAINTS, COMPLAINT_RATE)
PENDING_NOTE: Final = ("Pending first contacts (resolved, under 7 days old, not repeated so far) are "
                       "not counted: a range ending now has fewer decided successes than it will have.")


def columns(key: Column, figures: Sequence[Figure]) -> list[Column]:
    """Table columns: the group's key, then each figure with its title, unit and decimals."""
    return [key, *(f.column() for f in figures)]


def fcr_by_channel() -> JSON:
    """FCR % per channel over the dashboard range."""
    return stat(
        "FCR % by channel", queries.by_channel([FCR_PCT], FCR_CONTACTS),
        description=f"FCR % = {FCR_PCT.meaning}, from the channel's summed counts. {PENDING_NOTE} "
                    f'"{MASKED}" where fewer than min n first contacts are decided.',
        unit=FCR_PCT.unit, decimals=FCR_PCT.decimals, steps=FCR_PCT.steps, no_value=MASKED,
    )


def repeat_rate_by_channel() -> JSON:
    """Repeat contacts / eligible contacts per channel (the repeat contact's own channel)."""
    return stat(
        "Repeat-contact rate by channel", queries.by_channel([REPEAT_CONTACT_RATE], FCR_CONTACTS),
        description=f"Repeat-contact rate = {REPEAT_CONTACT_RATE.meaning}, per channel the contacts "
                    "came in on. A repeat contact is an eligible contact within 7 days after a contact "
                    "of the same customer and reason, on any channel.",
        unit=REPEAT_CONTACT_RATE.unit, decimals=REPEAT_CONTACT_RATE.decimals,
        steps=REPEAT_CONTACT_RATE.steps, no_value=MASKED,
    )


def pending_by_channel() -> JSON:
    """Open first contacts still inside their 7-day window, per channel."""
    return stat(
        "Pending first contacts by channel", queries.by_channel([FCR_PENDING], FCR_CONTACTS),
        description=f"Pending: {FCR_PENDING.meaning}. Each becomes a success 7 days after it "
                    "occurred, or a failure as soon as the customer contacts again about the same reason.",
        unit=FCR_PENDING.unit, decimals=FCR_PENDING.decimals, steps=FCR_PENDING.steps,
    )


def fcr_over_time() -> JSON:
    """FCR % per channel every hour (of the first contacts' times)."""
    return time_series(
        "FCR % by channel, every hour",
        queries.by_channel_every_hour(FCR_PCT, FCR_CONTACTS),
        description=f"FCR % of the first contacts of each hour and channel. {PENDING_NOTE} The last 7 "
                    "days therefore read low until their outcomes are decided; a gap means no decided "
                    "first contact.",
        unit=FCR_PCT.unit, decimals=FCR_PCT.decimals, series_label="channel",
    )


def fcr_gap_table() -> JSON:
    """Survey FCR % next to operational FCR % per channel, and their difference."""
    return table(
        "FCR gap by channel: survey vs. operational",
        queries.fcr_gap_by_channel(),
        description="Survey FCR % = \"yes\" answers to \"resolved at first contact?\" / answers x 100 "
                    "(survey responses); operational FCR % = successes / decided first contacts x 100 "
                    f"(contacts). FCR gap = {FCR_GAP.meaning}: positive when customers feel resolved "
                    f'more often than the contact data shows. "{MASKED}" where either side has fewer '
                    "than min n.",
        columns=columns(Column("channel", "Channel", unit="string"), GAP_FIGURES),
    )


def complaints_table() -> JSON:
    """Contacts, complaints and complaint rate per channel."""
    return table(
        "Complaints by channel",
        queries.by_channel(COMPLAINT_FIGURES),
        description=f"Complaint rate = {COMPLAINT_RATE.meaning}, over every contact (eligible for FCR "
                    f'or not); "{MASKED}" where a channel had fewer than min n contacts.',
        columns=columns(Column("channel", "Channel", unit="string"), COMPLAINT_FIGURES),
        sort_by=COMPLAINTS.title,
    )


def fcr_by_agent() -> JSON:
    """FCR counts and FCR % per agent of the first contact."""
    return table(
        "FCR by agent",
        queries.grouped(AGENT_FIGURES, ("agent_id",), FCR_CONTACTS),
        description="First contacts and their outcomes per agent who handled the first contact "
                    f"(empty: no agent, e.g. a bot). {PENDING_NOTE}",
        columns=columns(Column("agent_id", "Agent", unit="string"), AGENT_FIGURES),
        sort_by=FCR_FIRST_CONTACTS.title,
    )


def fcr_by_reason() -> JSON:
    """FCR counts, FCR % and repeat-contact rate per contact reason."""
    return table(
        "FCR by contact reason",
        queries.grouped(REASON_FIGURES, ("contact_reason",), FCR_CONTACTS),
        description="Per contact reason: eligible contacts, first contacts and their outcomes, FCR %, "
                    f"repeat contacts and repeat-contact rate. {PENDING_NOTE}",
        columns=columns(Column("contact_reason", "Contact reason", unit="string"), REASON_FIGURES),
        sort_by=ELIGIBLE_CONTACTS.title,
    )


def build() -> JSON:
    """The whole board as Grafana dashboard JSON."""
    layout = Layout()
    layout.add_row("First-contact resolution by channel")
    for panel in (fcr_by_channel(), repeat_rate_by_channel(), pending_by_channel()):
        layout.add(panel, width=8, height=5)
    layout.add(fcr_over_time(), width=24, height=9)
    layout.add_row("Survey vs. operational FCR, and complaints, by channel")
    layout.add(fcr_gap_table(), width=12, height=8)
    layout.add(complaints_table(), width=12, height=8)
    layout.add_row("By agent and contact reason")
    layout.add(fcr_by_agent(), width=12, height=10)
    layout.add(fcr_by_reason(), width=12, height=10)
    return dashboard(
        UID, TITLE,
        description="First-contact resolution, repeat contacts, complaints and the FCR gap per channel, "
                    "agent and contact reason.",
        panels=layout.panels, variables=board_variables(), tags=["cxpulse", "cx", "contact-center"],
        time_from=TIME_FROM, refresh="1m", annotations=[fixes_annotation()],
    )
