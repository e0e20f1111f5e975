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
