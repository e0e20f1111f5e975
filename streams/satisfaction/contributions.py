"""Per-event contributions to the minute satisfaction counts (METRICS.md), as 0/1 flags and scores.

Counts, not ratios: the minute table sums these; every ratio is computed from summed counts at query time.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from schemas.event import TouchpointEvent
from streams.fcr.outcomes import continues_a_contact, is_eligible

CSAT_SATISFIED_MIN = 4
"""CSAT 1-5: satisfied if score >= 4."""
NPS_PROMOTER_MIN = 9
NPS_DETRACTOR_MAX = 6
"""NPS 0-10: promoter 9-10, passive 7-8, detractor 0-6."""
CES_EASY_MIN = 5
"""CES 1-7 (7 = very easy): easy if score >= 5."""
SURVEY_FCR_ATTRIBUTE = "resolved_first_contact"
"""Survey FCR: a response's answer to "was it resolved at first contact?", "yes" or "no"."""


class Flags(NamedTuple):
    """The 0/1 flags one event adds to its minute, in ``touchpoint_events`` column order."""

    csat_response: int
    csat_satisfied: int
    nps_response: int
    nps_promoter: int
    nps_detractor: int
    ces_response: int
    ces_easy: int
    contact: int
    fcr_eligible: int
    survey_fcr_response: int
    survey_fcr_yes: int


def score_flags(event: TouchpointEvent) -> Flags:
    """The satisfaction flags one event adds to its minute (each score counted in its own metric).

    A later leg of a transferred contact (``continues_a_contact``) is no contact of its own: the
    contact is counted once, on its first leg.
    """
    csat, nps, ces = event.get("csat"), event.get("nps"), event.get("ces")
    kind = event["kind"]
    leg = continues_a_contact(event)
    survey_fcr = None
    if kind == "response":
        survey_fcr = (event.get("attributes") or {}).get(SURVEY_FCR_ATTRIBUTE, "").strip().lower()
    return Flags(
        csat is not None, csat is not None and csat >= CSAT_SATISFIED_MIN,
        nps is not None, nps is not None and nps >= NPS_PROMOTER_MIN,
        nps is not None and nps <= NPS_DETRACTOR_MAX,
        ces is not None, ces is not None and ces >= CES_EASY_MIN,
        kind == "contact" and not leg, is_eligible(event) and not leg,
        survey_fcr in ("yes", "no"), survey_fcr == "yes",
    )


MINUTE_DIMENSIONS = ("channel", "touchpoint", "journey_stage", "partner_id", "location_id", "region")
"""The dimensions of a minute count row (agent_id is a contact-only dimension: FCR rows and events)."""
COUNT_COLUMNS = (
    "events", "responses", "csat_responses", "csat_satisfied", "csat_sum", "nps_responses",
    "nps_promoters", "nps_detractors", "ces_responses", "ces_easy", "ces_sum", "contacts",
    "complaints", "fcr_eligible", "survey_fcr_responses", "survey_fcr_yes",
)
"""The counts one event adds to its minute, in ``minute_counts`` column order."""

Cell = tuple[Any, ...]
"""(minute start in epoch s, *MINUTE_DIMENSIONS): one row of ``minute_counts``."""


def contribution(event: TouchpointEvent, flags: Flags | None = None
                 ) -> tuple[Cell, tuple[int, ...]]:
    """The minute cell ``event`` belongs to (event time) and what it adds there (COUNT_COLUMNS).

    ``flags``: the event's ``score_flags``, when the caller has them already.
    """
    f = flags or score_flags(event)
    get = event.get
    counts = (
        1, int(event["kind"] == "response"), f[0], f[1], get("csat") or 0, f[2], f[3], f[4], f[5],
        f[6], get("ces") or 0, f[7], int(bool(get("complaint"))), f[8], f[9], f[10],
    )
    cell = (int(event["occurred_at"]) // 60_000 * 60, event["channel"], event["touchpoint"],
            event["journey_stage"], get("partner_id") or "", get("location_id") or "",
            get("region") or "")
    return cell, counts


EVENT_COLUMNS = (
    "event_id", "occurred_at", "occurred_at_ms", "received_at_ms", "channel", "source", "kind",
    "touchpoint", "journey_stage", "customer_id", "interaction_id", "contact_reason", "resolved",
    "complaint", "csat", "nps", "ces", "comment", "language", "partner_id", "location_id", "region",
    "agent_id", "attribute_keys", "attribute_values", "csat_response", "csat_satisfied",
    "nps_response", "nps_promoter", "nps_detractor", "ces_response", "ces_easy", "contact",
    "fcr_eligible", "survey_fcr_response", "survey_fcr_yes", "kafka_partition", "kafka_offset",
    "kafka_index", "version",
)
"""Columns of ``touchpoint_events`` that ``event_row`` fills and the look-ups read back, in this order
(the worker's rows add ``inserted_at``: ``streams.pipeline``)."""


def event_row(event: TouchpointEvent, partition: int, offset: int,
              flags: Flags | None = None, place: int = 0) -> tuple[Any, ...]:
    """One ``touchpoint_events`` row: the event, its contribution flags, and where it came from."""
    get = event.get
    attributes = get("attributes") or {}
    resolved = get("resolved")
    occurred_ms = int(event["occurred_at"])
    return (
        event["event_id"], occurred_ms // 1000, occurred_ms, int(event["received_at"]),
        event["channel"], event["source"], event["kind"], event["touchpoint"],
        event["journey_stage"], get("customer_id") or "", get("interaction_id") or "",
        get("contact_reason") or "", None if resolved is None else int(resolved),
        int(bool(get("complaint"))), get("csat"), get("nps"), get("ces"),
        get("comment") or "", get("language") or "", get("partner_id", ""),
        get("location_id", ""), get("region", ""), get("agent_id", ""),
        list(attributes), list(attributes.values()), *(flags or score_flags(event)),
        partition, offset, place, int(get("version") or 0),
    )


def event_from_row(row: dict[str, Any]) -> TouchpointEvent:
    """A stored ``touchpoint_events`` row (column name -> value) as the event it was made from.

    Enough of the event to recompute everything derived from it: its contribution, FCR, follow-up.
    """
    resolved = row["resolved"]
    return {
        "event_id": row["event_id"], "occurred_at": int(row["occurred_at_ms"]),
        "received_at": int(row["received_at_ms"]), "channel": row["channel"], "source": row["source"],
        "kind": row["kind"], "touchpoint": row["touchpoint"], "journey_stage": row["journey_stage"],
        "customer_id": row["customer_id"] or None, "interaction_id": row["interaction_id"] or None,
        "contact_reason": row["contact_reason"] or None,
        "resolved": None if resolved is None else bool(resolved), "complaint": bool(row["complaint"]),
        "csat": row["csat"], "nps": row["nps"], "ces": row["ces"], "comment": row["comment"] or None,
        "language": row["language"] or None, "partner_id": row["partner_id"],
        "location_id": row["location_id"], "region": row["region"], "agent_id": row["agent_id"],
        "attributes": dict(zip(row["attribute_keys"], row["attribute_values"], strict=True)),
        "version": int(row.get("version") or 0),
    }
