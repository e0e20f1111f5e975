"""Independent recomputation of the figures from raw events, straight from METRICS.md.

Deliberately written apart from the pipeline's code: it shares no function with streams/ or sql/.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

COUNTS = ("events", "csat_responses", "csat_satisfied", "csat_sum", "nps_responses", "nps_promoters",
          "nps_detractors", "ces_responses", "ces_easy", "ces_sum", "contacts", "complaints",
          "fcr_eligible")


def expected_counts(events: Iterable[dict[str, Any]], by: str, start_ms: int, end_ms: int
                    ) -> dict[str, dict[str, int]]:
    """Counts per value of ``by`` over events whose minute starts in [start, end)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for e in events:
        minute = e["occurred_at"] // 60_000 * 60_000
        if not start_ms <= minute < end_ms:
            continue
        c = out[e.get(by) or ""]
        c["events"] += 1
        if e.get("csat") is not None:
            c["csat_responses"] += 1
            c["csat_satisfied"] += e["csat"] >= 4
            c["csat_sum"] += e["csat"]
        if e.get("nps") is not None:
            c["nps_responses"] += 1
            c["nps_promoters"] += e["nps"] >= 9
            c["nps_detractors"] += e["nps"] <= 6
        if e.get("ces") is not None:
            c["ces_responses"] += 1
            c["ces_easy"] += e["ces"] >= 5
            c["ces_sum"] += e["ces"]
        if e["kind"] == "contact":
            c["complaints"] += bool(e.get("complaint"))
            if not continues(e):  # a transfer's later leg is no contact of its own
                c["contacts"] += 1
                c["fcr_eligible"] += bool(e.get("customer_id")) and bool(e.get("contact_reason"))
    return dict(out)


def continues(event: dict[str, Any]) -> str | None:
    """The contact a transfer or callback leg continues (its first leg's event id), else None."""
    return (event.get("attributes") or {}).get("continues_contact") or None


def first_copies(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One event per event_id: its highest version (0 when absent); among equal ones the first sent."""
    seen: dict[str, dict[str, Any]] = {}
    for e in events:
        old = seen.get(e["event_id"])
        if old is None or e.get("version", 0) > old.get("version", 0):
            seen[e["event_id"]] = e
    return list(seen.values())


def expected_followups(events: Iterable[dict[str, Any]]) -> set[str]:
    """The event ids that owe a follow-up: CSAT <= 2, NPS <= 6, or a complaint (README, closed loop)."""
    return {e["event_id"] for e in events
            if (e.get("csat") is not None and e["csat"] <= 2)
            or (e.get("nps") is not None and e["nps"] <= 6) or e.get("complaint")}


OPEN_FOLLOWUPS = "SELECT event_id FROM followups FINAL WHERE cancelled = 0"
"""The event ids of the follow-ups the store holds open."""


def followups_mismatch(open_: set[str], counted: Iterable[dict[str, Any]]) -> str | None:
    """How the open follow-ups differ from those ``counted`` (``first_copies``) owe; None if they don't."""
    owed = expected_followups(counted)
    if open_ == owed:
        return None
    return (f"follow-ups: {len(open_ - owed)} not owed (e.g. {sorted(open_ - owed)[:2]}), "
            f"{len(owed - open_)} missing (e.g. {sorted(owed - open_)[:2]})")


FCR = ("fcr_first_contacts", "fcr_success", "fcr_failure", "fcr_pending", "repeat_contacts")
REPEAT_WINDOW_MS = 7 * 86_400_000


def fold_legs(contacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Legs of one contact (same customer and reason, one continuing the other) as one contact: the
    first leg, with the last leg's resolution and agent."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for c in contacts:
        groups[(c["customer_id"], c["contact_reason"], continues(c) or c["event_id"])].append(c)
    folded = []
    for legs in groups.values():
        legs.sort(key=lambda c: (c["occurred_at"], c["event_id"]))
        folded.append({**legs[0], "resolved": legs[-1].get("resolved"),
                       "agent_id": legs[-1].get("agent_id", "")})
    return folded


def fcr_roles(events: Iterable[dict[str, Any]], now_ms: int) -> dict[str, str]:
    """METRICS.md by brute force: every eligible contact -> repeat | failure | success | pending.

    Transfer legs are folded first (``fold_legs``): the role belongs to the contact's first leg.
    """
    contacts = fold_legs([e for e in events if e["kind"] == "contact" and e.get("customer_id")
                          and e.get("contact_reason")])
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for c in contacts:
        by_key[(c["customer_id"], c["contact_reason"])].append(c)
    roles = {}
    for c in contacts:
        order = (c["occurred_at"], c["event_id"])
        others = [d for d in by_key[(c["customer_id"], c["contact_reason"])] if d is not c]
        if any((d["occurred_at"], d["event_id"]) < order
               and d["occurred_at"] >= c["occurred_at"] - REPEAT_WINDOW_MS for d in others):
            roles[c["event_id"]] = "repeat"
        elif not c.get("resolved") or any(
                (d["occurred_at"], d["event_id"]) > order
                and d["occurred_at"] <= c["occurred_at"] + REPEAT_WINDOW_MS for d in others):
            roles[c["event_id"]] = "failure"
        elif c["occurred_at"] + REPEAT_WINDOW_MS <= now_ms:
            roles[c["event_id"]] = "success"
        else:
            roles[c["event_id"]] = "pending"
    return roles


def expected_fcr(events: list[dict[str, Any]], by: str, start_ms: int, end_ms: int, now_ms: int
                 ) -> dict[str, dict[str, int]]:
    """FCR counts per value of ``by``, attributed to each contact's own minute and dimensions."""
    roles = fcr_roles(events, now_ms)
    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FCR, 0))
    eligible = fold_legs([e for e in events if e["kind"] == "contact" and e.get("customer_id")
                          and e.get("contact_reason")])
    for e in eligible:
        role = roles.get(e["event_id"])
        if role is None or not start_ms <= e["occurred_at"] // 60_000 * 60_000 < end_ms:
            continue
        counts = out[e.get(by) or ""]
        if role == "repeat":
            counts["repeat_contacts"] += 1
        else:
            counts["fcr_first_contacts"] += 1
            counts[f"fcr_{role}"] += 1
    return dict(out)
