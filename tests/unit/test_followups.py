"""Closed-loop follow-ups: trigger, routing and SLA rules, the batch processor, and the query builders."""

from __future__ import annotations

import argparse
import random
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxpulse.followups_view import add_followups_arguments, render_rows, render_summary, run_followups
from dashboards.macros import TimeRange, expand
from schemas.event import CHANNELS
from schemas.topics import Topics
from sql.followups import (
    GRAFANA_MACROS,
    followup_list,
    followup_status_sql,
    open_past_sla_sql,
    recovery_rate,
    recovery_rate_sql,
)
from streams.followups.processor import FOLLOWUP_COLUMNS, FollowUpProcessor, followup_row
from streams.followups.rules import (
    DEFAULT_SLA_POLICY,
    SlaPolicy,
    follow_up_for,
    parse_sla_spec,
    route_for,
)

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_795_000_000_000


def event(eid: str = "e1", at: int = T0, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": eid, "occurred_at": at, "received_at": at + 1000, "channel": "web", "source": "t",
        "kind": "response", "touchpoint": "checkout", "journey_stage": "purchase", "customer_id": "c1",
        "interaction_id": None, "contact_reason": None, "resolved": None, "complaint": False,
        "csat": None, "nps": None, "ces": None, "comment": None, "language": None, "partner_id": "",
        "location_id": "", "region": "", "agent_id": "", "attributes": {},
    }
    return base | fields


# --- trigger -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("csat", "triggers"), [(1, True), (2, True), (3, False), (4, False), (5, False)])
def test_csat_of_two_or_less_triggers(csat: int, triggers: bool) -> None:
    assert (follow_up_for(event(csat=csat)) is not None) is triggers


@pytest.mark.parametrize("nps", range(11))
def test_nps_detractors_trigger(nps: int) -> None:
    assert (follow_up_for(event(nps=nps)) is not None) is (nps <= 6)


def test_a_complaint_triggers_on_a_contact_too() -> None:
    f = follow_up_for(event(kind="contact", complaint=True, csat=5, channel="call_center"))
    assert f is not None and f.reasons == ["complaint"] and f.kind == "contact"


def test_no_score_and_no_complaint_creates_nothing() -> None:
    assert follow_up_for(event(ces=1)) is None
    assert follow_up_for(event(kind="contact", resolved=False)) is None


def test_every_reason_is_recorded() -> None:
    f = follow_up_for(event(csat=1, nps=0, complaint=True))
    assert f is not None
    assert (f.low_csat, f.detractor, f.complaint) == (True, True, True)
    assert f.reasons == ["low_csat", "detractor", "complaint"]


def test_an_anonymous_response_still_creates_a_follow_up() -> None:
    f = follow_up_for(event(customer_id=None, channel="kiosk", location_id="store-1", csat=1))
    assert f is not None and f.customer_id == ""


@given(csat=st.none() | st.integers(1, 5), nps=st.none() | st.integers(0, 10), complaint=st.booleans(),
       kind=st.sampled_from(["response", "contact"]))
def test_trigger_is_exactly_the_rule(csat: int | None, nps: int | None, complaint: bool, kind: str) -> None:
    expected = (csat is not None and csat <= 2) or (nps is not None and nps <= 6) or complaint
    assert (follow_up_for(event(csat=csat, nps=nps, complaint=complaint, kind=kind)) is not None) is expected


# --- routing, SLA ------------------------------------------------------------------------------------

def test_route_prefers_location_then_partner_then_channel() -> None:
    assert route_for(event(location_id="L1", partner_id="P1")) == "location:L1"
    assert route_for(event(partner_id="P1")) == "partner:P1"
    assert route_for(event(channel="chat")) == "channel:chat"


@pytest.mark.parametrize(("channel", "hours"), [("web", 24), ("call_center", 4), ("kiosk", 48),
                                                ("email", 24), ("retail_partner", 24)])
def test_default_sla_per_channel(channel: str, hours: int) -> None:
    f = follow_up_for(event(channel=channel, csat=1))
    assert f is not None
    assert f.due_at_ms == T0 + hours * HOUR
    assert f.recover_by_ms == T0 + 30 * DAY


def test_sla_spec_overrides_only_what_it_names() -> None:
    policy = parse_sla_spec("call_center=2h, default=12h,kiosk=3d , chat=90m")
    assert policy.sla_ms("call_center") == 2 * HOUR
    assert policy.sla_ms("kiosk") == 3 * DAY
    assert policy.sla_ms("chat") == 90 * 60_000
    assert policy.sla_ms("web") == 24 * HOUR  # its default, not the new default
    assert policy.sla_ms("email") == 12 * HOUR
    assert parse_sla_spec("") == SlaPolicy(DEFAULT_SLA_POLICY.by_channel, DEFAULT_SLA_POLICY.default_ms)
    assert {c: parse_sla_spec("").sla_ms(c) for c in CHANNELS} == {
        c: DEFAULT_SLA_POLICY.sla_ms(c) for c in CHANNELS}


def test_sla_spec_errors_are_listed_together() -> None:
    with pytest.raises(ValueError) as error:
        parse_sla_spec("fax=4h,web=soon,kiosk=0h,chat")
    message = str(error.value)
    for problem in ("'fax'", "'soon'", "'0h'", "chat: SLA ''"):
        assert problem in message


def test_custom_policy_and_window_are_used() -> None:
    f = follow_up_for(event(channel="chat", nps=2), parse_sla_spec("chat=1h"), recovery_window_ms=DAY)
    assert f is not None and (f.due_at_ms, f.recover_by_ms) == (T0 + HOUR, T0 + DAY)


# --- processor ---------------------------------------------------------------------------------------

def mixed_events(n: int = 300, seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [event(f"e{i}", T0 + rng.randrange(10 * DAY), channel=rng.choice(sorted(CHANNELS)),
                  kind=rng.choice(["response", "contact"]), complaint=rng.random() < 0.1,
                  csat=rng.choice([None, 1, 2, 3, 4, 5]), nps=rng.choice([None, 0, 6, 7, 9, 10]),
                  customer_id=rng.choice([None, "c1", "c2"]), location_id=rng.choice(["", "L1"]),
                  partner_id=rng.choice(["", "P1"]))
            for i in range(n)]


def without_version(rows: list[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    return {row[:-1] for row in rows}


def test_rows_follow_the_column_order() -> None:
    batch = FollowUpProcessor().process([event("a", csat=1, location_id="L9", channel="kiosk",
                                               customer_id=None)])
    [row] = batch.rows
    named = dict(zip(FOLLOWUP_COLUMNS, row, strict=True))
    assert named["event_id"] == "a" and named["customer_id"] == "" and named["route"] == "location:L9"
    assert (named["occurred_at"], named["occurred_at_ms"]) == (T0 // 1000, T0)
    assert (named["due_at"], named["due_at_ms"]) == ((T0 + 48 * HOUR) // 1000, T0 + 48 * HOUR)
    assert (named["low_csat"], named["detractor"], named["complaint"], named["csat"], named["nps"]) == (
        1, 0, 0, 1, None)
    assert row == followup_row(batch.followups[0], named["version"])


def test_batches_in_any_order_give_the_same_rows() -> None:
    events = mixed_events()
    whole = FollowUpProcessor().process(events)
    shuffled = events[:]
    random.Random(9).shuffle(shuffled)
    processor = FollowUpProcessor()
    parts = [processor.process(shuffled[i:i + 37]) for i in range(0, len(shuffled), 37)]
    assert without_version([r for p in parts for r in p.rows]) == without_version(whole.rows)
    assert {f.event_id for f in whole.followups} == {
        e["event_id"] for e in events if follow_up_for(e) is not None}


def test_each_follow_up_names_the_event_that_triggered_it() -> None:
    events = mixed_events()
    batch = FollowUpProcessor().process(events)
    assert len(batch.origins) == len(batch.followups) > 0
    assert [events[i]["event_id"] for i in batch.origins] == [f.event_id for f in batch.followups]


def test_versions_are_one_per_batch_and_increase() -> None:
    processor = FollowUpProcessor()
    first = processor.process(mixed_events(seed=1))
    second = processor.process(mixed_events(seed=2))
    assert len({r[-1] for r in first.rows}) == 1
    assert min(r[-1] for r in second.rows) > max(r[-1] for r in first.rows)
    assert processor.process([event(csat=5)]).rows == []


def test_messages_are_keyed_by_event_id() -> None:
    batch = FollowUpProcessor().process([event("b", nps=3), event("c", csat=5)])
    assert [f.event_id for f in batch.followups] == ["b"] and len(batch.rows) == 1
    [(key, value)] = batch.messages()
    message = orjson.loads(value)
    assert key == b"b" and message["event_id"] == "b" and message["reasons"] == ["detractor"]
    assert message["due_at_ms"] == T0 + 24 * HOUR and message["route"] == "channel:web"


def test_followups_topic_is_created_with_the_others() -> None:
    topics = Topics("x.")
    spec = {s.name: s for s in topics.specs(4)}[topics.followups]
    assert topics.followups == "x.cx.followups" and spec.partitions == 4
    assert spec.configs["cleanup.policy"] == "delete"


# --- query builders (the SQL itself runs in tests/integration/test_followups_queries.py) ------------

def test_grouping_is_validated() -> None:
    with pytest.raises(ValueError):
        recovery_rate_sql(["location_id; DROP TABLE followups"])
    with pytest.raises(ValueError):
        recovery_rate_sql(["comment"])


def test_status_filter_is_validated() -> None:
    with pytest.raises(ValueError):
        followup_list(FakeDatabase([]), 0, 1, status="closed")


def test_board_sql_uses_only_the_macros_boards_may_use() -> None:
    window = TimeRange(T0 // 1000 - 86400, T0 // 1000)
    for sql in (followup_status_sql(GRAFANA_MACROS), open_past_sla_sql(GRAFANA_MACROS),
                recovery_rate_sql(["location_id"], GRAFANA_MACROS)):
        expanded = expand(sql, window, {})
        assert "%(" not in expanded and "$" not in expanded
        assert f"toDateTime({T0 // 1000})" in expanded


# --- the CLI view ------------------------------------------------------------------------------------

class FakeDatabase:
    """Answers recovery-rate queries with ``rows`` and others with none; records what was asked."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.asked: list[tuple[str, dict[str, Any] | None]] = []

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return [tuple(r.values()) for r in self.query(sql, params)]

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.asked.append((sql, params))
        return self.rows if "recovery_pct" in sql else []


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_followups_arguments(parser)
    return parser.parse_args(argv)


def test_view_with_nothing_to_show(capsys: pytest.CaptureFixture[str]) -> None:
    db = FakeDatabase([{"followups_created": 0, "recoverable": 0, "recovered": 0, "open_followups": 0,
                        "overdue_followups": 0, "recovery_pct": None}])
    assert run_followups(parse("--from=-24h", "--status", "overdue"), lambda: db) == 0
    assert "no follow-ups triggered" in capsys.readouterr().out
    params = db.asked[-1][1]
    assert params is not None and params["status"] == "overdue" and params["end"] - params["start"] == 86400


def test_rendering() -> None:
    summary = {"followups_created": 4, "recoverable": 3, "recovered": 1, "open_followups": 1,
               "overdue_followups": 2, "recovery_pct": 33.3333}
    assert render_summary(summary) == ("follow-ups: 4 (3 recoverable), recovered 1 (33.3%), open 1, "
                                       "past SLA 2")
    row = {"due_at_ms": T0, "status": "open", "route": "channel:web", "channel": "web",
           "low_csat": True, "detractor": False, "complaint": True, "occurred_at_ms": T0,
           "recovered_at_ms": None, "event_id": "e1"}
    text = render_rows([row], (("due_at_ms", "due"), ("reasons", "why"), ("recovered_at_ms", "rec")))
    assert text.splitlines()[1].split() == ["2026-11-18", "11:06", "low_csat,complaint", "-"]
    assert recovery_rate(FakeDatabase([summary]), 0, 1, by=()) == [summary | {"recovery_pct": 33.3333}]
