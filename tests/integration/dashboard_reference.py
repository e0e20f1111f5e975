"""The events the board tests insert, and every board figure recomputed from them by METRICS.md.

Written apart from the pipeline: nothing here calls streams/ or sql/ (schemas.event only validates the
events, as a connector would). FCR is recomputed by brute force: every contact against every other
contact of its (customer, reason), straight from the rules' wording.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from dashboards.macros import TimeRange
from schemas.event import validate_event
from tests.integration.board_variables import MIN_N

Event = dict[str, Any]
DAY_S = 86_400
REPEAT_WINDOW_MS = 7 * DAY_S * 1000
SCORED_CHANNELS = ("web", "call_center", "kiosk", "retail_partner")
CONTACT_ONLY_CHANNEL = "email"
"""Has contacts but never a survey response: its CSAT, NPS and CES must be NULL, never 0."""
SURVEY_FCR_CHANNELS = ("web", "call_center", "chat")
"""Only these get survey FCR answers: elsewhere survey FCR %, and so the FCR gap, are NULL."""
AGES_S = {"minutes": (20, 170), "hour": (600, 3000), "day": (4 * 3600, 20 * 3600)}
"""Ops events' ages (seconds before now) per group: inside the last 5 min, the last hour, the last 24 h."""
DASHBOARD_SPAN_S = 12 * DAY_S
"""Long enough for decided FCR successes (first contacts over 7 days old)."""
FCR_MAX_AGE_S = 14 * DAY_S
"""Some contacts lie before the dashboard range: they still make later contacts repeats."""
DECISION_MARGIN_S = 3600
"""No first contact is this close to its decision: the boards' now() runs a little after the scenario's."""
STORIES = (  # story, customer, reason, age (s), resolved, channel, agent
    ("decided-success", "s1", "billing", 9 * DAY_S, True, "call_center", "a1"),
    ("pending", "p1", "delivery", 3 * 3600, True, "chat", "a2"),
    ("unresolved", "u1", "refund", 5 * 3600, False, "call_center", "a2"),
    ("repeated-first", "r1", "billing", 3 * DAY_S, True, "web", "a1"),
    ("repeat", "r1", "billing", 1 * DAY_S, True, "call_center", "a3"),
    ("old-first", "o1", "delivery", 10 * DAY_S, True, "chat", "a3"),
    ("new-first", "o1", "delivery", 2 * DAY_S, True, "chat", "a3"),
)
STORY_ROLES = {"decided-success": "success", "pending": "pending", "unresolved": "failure",
               "repeated-first": "failure", "repeat": "repeat", "old-first": "success",
               "new-first": "pending"}
LATE_EVENT_ID = "dash-fcr-repeat"
"""Processed in a batch of its own, after its first contact was stored as open: FINAL must show the
rewrite (a failure), not the first version."""


@dataclass(frozen=True)
class Scenario:
    """The inserted events, their FCR roles, the moment the board is looked at, the dashboard's range."""

    now: int
    events: list[Event]
    roles: dict[str, str]
    """event_id -> success | failure | pending | repeat, for every eligible contact."""
    dashboard_range: TimeRange

    @property
    def channels(self) -> list[str]:
        return sorted({e["channel"] for e in self.events})


def event(n: Any, now_ms: int, age_s: int, channel: str, kind: str, **fields: Any) -> Event:
    occurred = now_ms - age_s * 1000
    return validate_event({
        "event_id": f"dash-{n}", "occurred_at": occurred, "received_at": min(occurred + 30_000, now_ms),
        "channel": channel, "source": "dashboard-test", "kind": kind, "touchpoint": "support_line",
        "journey_stage": "support", **fields,
    })


def ops_event(rng: random.Random, n: int, now_ms: int, channel: str, age_s: int, kind: str,
              csat: int | None = None) -> Event:
    fields: dict[str, Any] = {"touchpoint": rng.choice(["checkout", "ivr_billing", "store_entrance"]),
                              "journey_stage": rng.choice(["purchase", "support", "usage"]),
                              "region": rng.choice(["north", "south"])}
    if kind == "response":
        fields["csat"] = csat or (rng.randint(1, 5) if n % 7 else None)  # some carry no CSAT
        fields["nps"] = rng.randint(0, 10) if rng.random() < 0.7 else None
        fields["ces"] = rng.randint(1, 7) if rng.random() < 0.5 else None
    else:
        fields.update(customer_id=f"c{rng.randint(1, 30)}", contact_reason="billing",
                      resolved=rng.random() < 0.6, complaint=rng.random() < 0.2)
    return event(n, now_ms, age_s, channel, kind, **fields)


def ops_events(rng: random.Random, now_ms: int) -> list[Event]:
    """Responses and contacts in the last minutes, hour and day, on every channel."""
    events: list[Event] = []
    for window_name, (low, high) in AGES_S.items():
        for channel in SCORED_CHANNELS:
            # at least one CSAT response per channel in every window, then random traffic
            events.append(ops_event(rng, len(events), now_ms, channel, low, "response",
                                    csat=5 if window_name == "hour" else 2))
            for _ in range(12):
                kind = "response" if rng.random() < 0.75 else "contact"
                events.append(ops_event(rng, len(events), now_ms, channel, rng.randint(low, high), kind))
        for _ in range(3):
            events.append(ops_event(rng, len(events), now_ms, CONTACT_ONLY_CHANNEL,
                                    rng.randint(low, high), "contact"))
    return events


def fcr_age(rng: random.Random) -> int:
    """A random contact age, never within DECISION_MARGIN_S of being decided."""
    while True:
        age = rng.randint(60, FCR_MAX_AGE_S)
        if abs(age - REPEAT_WINDOW_MS // 1000) > DECISION_MARGIN_S:
            return age


def fcr_events(rng: random.Random, now_ms: int) -> list[Event]:
    """The stories, ineligible contacts, random contacts over two weeks, and survey FCR answers."""
    events = [event(f"fcr-{story}", now_ms, age, channel, "contact", customer_id=customer,
                    contact_reason=reason, resolved=resolved, agent_id=agent)
              for story, customer, reason, age, resolved, channel, agent in STORIES]
    events.append(event("fcr-no-customer", now_ms, 7200, "kiosk", "contact", contact_reason="billing",
                        resolved=True, complaint=True))
    events.append(event("fcr-no-reason", now_ms, 7300, "web", "contact", customer_id="n1",
                        resolved=True))
    for i in range(90):
        events.append(event(
            f"fcr-{i}", now_ms, fcr_age(rng), rng.choice([*SCORED_CHANNELS, "chat", "email"]), "contact",
            customer_id=f"k{rng.randint(1, 15)}",
            contact_reason=rng.choice(["billing", "delivery", "refund"]),
            resolved=rng.random() < 0.7, complaint=rng.random() < 0.15,
            agent_id=rng.choice(["a1", "a2", "a3", "a4", ""])))
    for i in range(60):
        answer = {"resolved_first_contact": "yes" if rng.random() < 0.6 else "no"} if i % 10 else {}
        events.append(event(f"survey-{i}", now_ms, rng.randint(60, 11 * DAY_S),
                            rng.choice(SURVEY_FCR_CHANNELS), "response", csat=rng.randint(1, 5),
                            attributes=answer))
    return events


def build_scenario(now: int, seed: int = 20240611) -> Scenario:
    rng = random.Random(seed)
    events = ops_events(rng, now * 1000) + fcr_events(rng, now * 1000)
    return Scenario(now, events, fcr_roles(events, now * 1000), TimeRange(now - DASHBOARD_SPAN_S, now))


# --- the independent recomputation ---------------------------------------------------------------------

def fcr_roles(events: list[Event], now_ms: int) -> dict[str, str]:
    """Every eligible contact's role and outcome by METRICS.md, comparing it with every other contact."""
    eligible = [e for e in events if e["kind"] == "contact" and e["customer_id"] and e["contact_reason"]]
    roles = {}
    for c in eligible:
        order = (c["occurred_at"], c["event_id"])
        same = [d for d in eligible if (d["customer_id"], d["contact_reason"]) ==
                (c["customer_id"], c["contact_reason"]) and d is not c]
        earlier = [d for d in same if (d["occurred_at"], d["event_id"]) < order]
        later = [d for d in same if (d["occurred_at"], d["event_id"]) > order]
        if any(d["occurred_at"] >= c["occurred_at"] - REPEAT_WINDOW_MS for d in earlier):
            roles[c["event_id"]] = "repeat"
        elif not c["resolved"] or any(d["occurred_at"] <= c["occurred_at"] + REPEAT_WINDOW_MS
                                      for d in later):
            roles[c["event_id"]] = "failure"
        else:
            roles[c["event_id"]] = "success" if now_ms > c["occurred_at"] + REPEAT_WINDOW_MS else "pending"
    return roles


def _ratio(numerator: float, denominator: int, scale: float = 100.0) -> float | None:
    """A ratio as the boards show it: masked (None) below the boards' min n, as METRICS.md says."""
    return None if denominator < MIN_N else numerator / denominator * scale


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def satisfaction_figures(events: list[Event]) -> dict[str, float | None]:
    csat = [e["csat"] for e in events if e["csat"] is not None]
    nps = [e["nps"] for e in events if e["nps"] is not None]
    ces = [e["ces"] for e in events if e["ces"] is not None]
    contacts = [e for e in events if e["kind"] == "contact"]
    answers = [e["attributes"].get("resolved_first_contact") for e in events if e["kind"] == "response"]
    answers = [a for a in answers if a in ("yes", "no")]
    return {
        "csat_pct": _ratio(sum(s >= 4 for s in csat), len(csat)),
        "nps": _ratio(sum(s >= 9 for s in nps) - sum(s <= 6 for s in nps), len(nps)),
        "ces_mean": _ratio(sum(ces), len(ces), 1.0),
        "volume": len(events),
        "csat_n": len(csat), "nps_n": len(nps), "ces_n": len(ces),
        "response_count": sum(e["kind"] == "response" for e in events),
        "contact_count": len(contacts),
        "complaint_count": sum(e["complaint"] for e in contacts),
        "complaint_rate": _ratio(sum(e["complaint"] for e in contacts), len(contacts)),
        "survey_fcr_answers": len(answers),
        "survey_fcr_pct": _ratio(answers.count("yes"), len(answers)),
    }


def expected_figures(events: list[Event], roles: dict[str, str]) -> dict[str, float | None]:
    """Every figure a board shows, for one group of events (all of the group's events in range)."""
    role = Counter(roles[e["event_id"]] for e in events if e["event_id"] in roles)
    decided = role["success"] + role["failure"]
    out = satisfaction_figures(events)
    out.update({
        "eligible_contacts": role.total(),
        "fcr_first_contacts": decided + role["pending"],
        "fcr_success": role["success"], "fcr_failure": role["failure"], "fcr_pending": role["pending"],
        "repeat_contacts": role["repeat"],
        "fcr_decided": decided,
        "fcr_pct": _ratio(role["success"], decided),
        "repeat_contact_rate": _ratio(role["repeat"], role.total()),
    })
    out["fcr_gap"] = _minus(out["survey_fcr_pct"], out["fcr_pct"])
    return out


def in_range(events: list[Event], window: TimeRange, channels: list[str]) -> list[Event]:
    """Events whose minute bucket starts inside the window (how $__timeFilter(minute) selects)."""
    return [e for e in events if e["channel"] in channels
            and window.start <= e["occurred_at"] // 60_000 * 60 <= window.end]


def group(events: list[Event], key: Callable[[Event], Hashable]) -> dict[Any, list[Event]]:
    out: dict[Any, list[Event]] = defaultdict(list)
    for e in events:
        out[key(e)].append(e)
    return dict(out)
