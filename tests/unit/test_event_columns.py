"""A batch's columns and minute sums are each event's row and contribution, whatever the batch."""

from collections import defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.event import CONTINUES_CONTACT, validate_event
from sql.client import ColumnRows
from streams.fcr.outcomes import continues_a_contact, is_eligible
from streams.satisfaction.contributions import (
    COUNT_COLUMNS,
    EVENT_COLUMNS,
    column_rows,
    contribution,
    event_columns,
    event_row,
    event_sums,
    minute_sums,
)

NOW = 1_795_514_400_000


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["response", "contact"]))
    attributes = draw(st.dictionaries(
        st.sampled_from(["resolved_first_contact", CONTINUES_CONTACT, "k"]),
        st.sampled_from(["yes", " No ", "maybe", "e0"]), max_size=3))
    raw: dict[str, Any] = {
        "event_id": f"e{draw(st.integers(0, 10**6))}",
        "occurred_at": NOW - draw(st.integers(0, 3 * 60_000)),  # a few minutes: cells are shared
        "received_at": NOW, "channel": draw(st.sampled_from(["web", "kiosk"])), "source": "t",
        "kind": kind, "touchpoint": draw(st.sampled_from(["checkout", "store"])),
        "csat": draw(st.none() | st.integers(1, 5)), "nps": draw(st.none() | st.integers(0, 10)),
        "ces": draw(st.none() | st.integers(1, 7)), "complaint": draw(st.booleans()),
        "resolved": draw(st.none() | st.booleans()), "attributes": attributes,
        "region": draw(st.sampled_from(["", "north"])), "version": draw(st.integers(0, 3)),
    }
    if kind == "contact" and draw(st.booleans()):
        raw |= {"customer_id": "c1", "contact_reason": draw(st.sampled_from(["billing", "delivery"]))}
    return validate_event(raw)


@settings(max_examples=200, deadline=None)
@given(st.lists(events(), max_size=40))
def test_a_batchs_minute_sums_are_the_sum_of_each_events_contribution(batch: list[dict[str, Any]]) -> None:
    want: dict[Any, list[int]] = defaultdict(lambda: [0] * len(COUNT_COLUMNS))
    for event in batch:
        cell, counts = contribution(event)
        want[cell] = [a + b for a, b in zip(want[cell], counts, strict=True)]
    zeros = [0] * len(batch)
    got = minute_sums(event_columns(batch, zeros, zeros, zeros))
    assert {cell: list(counts) for cell, counts in got.items()} == dict(want)
    assert all(type(v) is int for counts in got.values() for v in counts)
    assert event_sums(batch) == got  # what the pipeline takes out for replaced versions


@settings(max_examples=100, deadline=None)
@given(st.lists(events(), max_size=20))
def test_a_batchs_columns_are_each_events_row(batch: list[dict[str, Any]]) -> None:
    n = len(batch)
    columns = event_columns(batch, [3] * n, list(range(n)), [1] * n)
    assert len(columns) == len(EVENT_COLUMNS)
    assert column_rows(columns) == [event_row(e, 3, i, 1) for i, e in enumerate(batch)]
    rows = ColumnRows(columns)
    assert len(rows) == n and list(rows) == column_rows(columns)
    assert list(rows[1:3]) == column_rows(columns)[1:3]


def test_one_events_contribution_counts_its_scores_and_flags() -> None:
    event = validate_event({
        "event_id": "e", "occurred_at": NOW + 59_999, "received_at": NOW, "channel": "web",
        "source": "t", "kind": "response", "touchpoint": "checkout", "csat": 4, "nps": 3, "ces": 6,
        "complaint": True, "attributes": {"resolved_first_contact": " Yes"}})
    cell, counts = contribution(event)
    assert cell == (NOW // 1000, "web", "checkout", event["journey_stage"], "", "", "")
    assert dict(zip(COUNT_COLUMNS, counts, strict=True)) == {
        "events": 1, "responses": 1, "csat_responses": 1, "csat_satisfied": 1, "csat_sum": 4,
        "nps_responses": 1, "nps_promoters": 0, "nps_detractors": 1, "ces_responses": 1, "ces_easy": 1,
        "ces_sum": 6, "contacts": 0, "complaints": 1, "fcr_eligible": 0, "survey_fcr_responses": 1,
        "survey_fcr_yes": 1}


@settings(max_examples=100, deadline=None)
@given(st.lists(events(), min_size=1, max_size=10), st.data())
def test_optional_fields_left_out_mean_their_defaults(batch: list[dict[str, Any]],
                                                      data: st.DataObject) -> None:
    """An event made by hand may leave optional fields out; a decoded one has them all."""
    optional = ["customer_id", "interaction_id", "contact_reason", "resolved", "complaint", "csat", "nps",
                "ces", "comment", "language", "partner_id", "location_id", "region", "agent_id",
                "attributes", "version"]
    defaults = {"complaint": False, "partner_id": "", "location_id": "", "region": "", "agent_id": "",
                "attributes": {}, "version": 0}
    sparse = []
    for event in batch:
        left_out = data.draw(st.sets(st.sampled_from(optional)))
        sparse.append({k: v for k, v in event.items() if k not in left_out})
    full = [{**e, **{k: defaults.get(k) for k in optional if k not in e}} for e in sparse]
    n = len(batch)
    assert event_columns(sparse, [0] * n, [0] * n, [0] * n) == event_columns(full, [0] * n, [0] * n, [0] * n)


@settings(max_examples=200, deadline=None)
@given(st.lists(events(), max_size=30))
def test_the_contact_flags_are_the_fcr_rules_of_each_event(batch: list[dict[str, Any]]) -> None:
    """``event_columns`` applies ``is_eligible`` / ``continues_a_contact`` column by column."""
    n = len(batch)
    named = dict(zip(EVENT_COLUMNS, event_columns(batch, [0] * n, [0] * n, [0] * n), strict=True))
    legs = list(zip(batch, map(continues_a_contact, batch), strict=True))
    assert named["contact"] == [e["kind"] == "contact" and not leg for e, leg in legs]
    assert named["fcr_eligible"] == [is_eligible(e) and not leg for e, leg in legs]
