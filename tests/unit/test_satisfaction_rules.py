import pytest

from schemas.event import validate_event
from sql.figures import FCR_COUNTS, SATISFACTION_COUNTS, derive, figures_query
from streams.satisfaction.contributions import EVENT_COLUMNS, event_row, score_flags

NOW = 1_795_514_400_000


def event(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"event_id": "e", "occurred_at": NOW, "received_at": NOW,
                               "channel": "web", "source": "t", "kind": "response",
                               "touchpoint": "checkout"}
    base.update(kw)
    return validate_event(base)


@pytest.mark.parametrize(("csat", "satisfied"), [(1, 0), (3, 0), (4, 1), (5, 1)])
def test_csat_satisfied_from_4(csat: int, satisfied: int) -> None:
    flags = score_flags(event(csat=csat))
    assert flags.csat_response == 1 and flags.csat_satisfied == satisfied


@pytest.mark.parametrize(("nps", "promoter", "detractor"),
                         [(0, 0, 1), (6, 0, 1), (7, 0, 0), (8, 0, 0), (9, 1, 0), (10, 1, 0)])
def test_nps_classes(nps: int, promoter: int, detractor: int) -> None:
    flags = score_flags(event(nps=nps))
    assert (flags.nps_promoter, flags.nps_detractor) == (promoter, detractor)


def test_each_score_counts_in_its_own_metric_and_absent_scores_count_nowhere() -> None:
    flags = score_flags(event(csat=2, ces=5))
    assert flags.csat_response == 1 and flags.ces_response == 1 and flags.ces_easy == 1
    assert flags.nps_response == 0


def test_fcr_eligibility_needs_customer_and_reason() -> None:
    assert score_flags(event(kind="contact", customer_id="c", contact_reason="billing")).fcr_eligible
    assert not score_flags(event(kind="contact", customer_id="c")).fcr_eligible
    assert not score_flags(event(customer_id="c", contact_reason="billing")).fcr_eligible


def test_survey_fcr_answer_counts_on_responses_only() -> None:
    yes = score_flags(event(attributes={"resolved_first_contact": "Yes"}))
    no = score_flags(event(attributes={"resolved_first_contact": "no"}))
    other = score_flags(event(attributes={"resolved_first_contact": "maybe"}))
    contact = score_flags(event(kind="contact", attributes={"resolved_first_contact": "yes"}))
    assert (yes.survey_fcr_response, yes.survey_fcr_yes) == (1, 1)
    assert (no.survey_fcr_response, no.survey_fcr_yes) == (1, 0)
    assert other.survey_fcr_response == 0 and contact.survey_fcr_response == 0


def test_event_row_matches_columns() -> None:
    row = event_row(event(csat=5, attributes={"k": "v"}), 3, 42)
    assert len(row) == len(EVENT_COLUMNS)
    named = dict(zip(EVENT_COLUMNS, row, strict=True))
    assert named["occurred_at"] == NOW // 1000 and named["attribute_keys"] == ["k"]
    assert (named["kafka_partition"], named["kafka_offset"]) == (3, 42)


def test_ratios_come_from_counts_and_are_null_without_responses() -> None:
    counts = dict.fromkeys((*SATISFACTION_COUNTS, *FCR_COUNTS), 0)
    empty = derive(counts)
    assert empty["csat_pct"] is None and empty["nps"] is None and empty["ces_mean"] is None
    full = derive({**counts, "csat_satisfied": 3, "csat_responses": 4, "nps_promoters": 5,
                   "nps_detractors": 2, "nps_responses": 10, "ces_sum": 11, "ces_responses": 2})
    assert full["csat_pct"] == 75.0 and full["nps"] == 30.0 and full["ces_mean"] == 5.5
    assert empty["fcr_pct"] is None and empty["fcr_gap"] is None
    fcr = derive({**counts, "fcr_success": 3, "fcr_failure": 1, "survey_fcr_yes": 9,
                  "survey_fcr_responses": 10, "repeat_contacts": 2, "fcr_eligible": 8})
    assert fcr["fcr_pct"] == 75.0 and fcr["survey_fcr_pct"] == 90.0 and fcr["fcr_gap"] == 15.0
    assert fcr["repeat_contact_rate"] == 25.0


def test_figures_query_rejects_unknown_dimensions_and_grains() -> None:
    with pytest.raises(ValueError, match="unknown dimension"):
        figures_query(["channel; DROP TABLE x"], "total")
    with pytest.raises(ValueError, match="grain"):
        figures_query([], "week")
    assert "toStartOfHour(minute)" in figures_query(["channel"], "hour")
