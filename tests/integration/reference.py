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
            c["contacts"] += 1
            c["complaints"] += bool(e.get("complaint"))
            c["fcr_eligible"] += bool(e.get("customer_id")) and bool(e.get("contact_reason"))
    return dict(out)


def first_copies(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One event per event_id: the first one sent."""
    seen: dict[str, dict[str, Any]] = {}
    for e in events:
        seen.setdefault(e["event_id"], e)
    return list(seen.values())


FCR = ("fcr_first_contacts", "fcr_success", "fcr_failure", "fcr_pending", "repeat_contacts")
REPEAT_WINDOW_MS = 7 * 86_400_000


def fcr_roles(events: Iterable[dict[str, Any]], now_ms: int) -> dict[str, str]:
    """METRICS.md by brute force: every eligible contact -> repeat | failure | success | pending."""
    contacts = [e for e in events if e["kind"] == "contact" and e.get("customer_id")
                and e.get("contact_reason")]
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
    for e in events:
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
