"""Call-center samples (CTR Firehose file, IVR survey CSV) -> ingest_file -> Kafka -> worker -> ClickHouse.

The records sit at now-6d .. now-6d+20min: outside the per-channel windows other tests compare
([now-3d, now-3h) and [now-150min, now-1h)); touchpoints and ids carry a per-run tag.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from connectors.call_center import (
    AmazonConnectCtrConnector,
    CtrConfig,
    IvrSurveyConfig,
    IvrSurveyCsvConnector,
)
from connectors.sdk.base import Connector
from connectors.sdk.files import ingest_file
from connectors.sdk.publisher import EventPublisher
from cxpulse.settings import Settings
from cxpulse.wiring import privacy_key
from schemas.codec import AvroCodec
from schemas.topics import Topics
from sql.client import ServerDatabase
from tests.conftest import run_tag
from tests.integration.test_end_to_end import cxpulse, dead_letters, metrics
from tests.unit.test_call_center import MIN_MS, OFFSETS_MIN, render_sample

DAY_MS = 86_400_000
CTR_REASONS = ["missing_contact_id", "missing_initiation_timestamp", "invalid_resolved",
               "invalid_json", "invalid_ctr"]
IVR_REASONS = ["score_out_of_range", "invalid_score", "missing_timestamp", "empty_response",
               "invalid_row"]


def publisher_for(settings: Settings, connector: Connector[Any]) -> EventPublisher:
    topics = Topics(settings.topic_prefix)
    codec = AvroCodec(registry_url=settings.schema_registry_url, subject=f"{topics.touchpoints}-value")
    return EventPublisher(settings.bootstrap, topics, codec, connector.name,
                          privacy_key=privacy_key(settings), raw_id_fields=connector.raw_id_fields())


def stored(db: ServerDatabase, touchpoints: list[str]) -> list[tuple[Any, ...]]:
    """The latest version of each stored event of these touchpoints."""
    return db.execute(
        "SELECT event_id, channel, touchpoint, customer_id, contact_reason, resolved, complaint, "
        "agent_id, csat, nps FROM touchpoint_events WHERE touchpoint IN %(tps)s "
        "ORDER BY event_id, version DESC LIMIT 1 BY event_id", {"tps": tuple(touchpoints)})


def test_call_center_files_land_exactly_once_with_dead_letters(
        running_stack: Settings, cli_env: dict[str, str], server_db: ServerDatabase,
        tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    tag = run_tag("cc")
    base = now - 6 * DAY_MS
    t = {k: (base - base % 1000) + m * MIN_MS for k, m in OFFSETS_MIN.items()}
    ctr_file = render_sample("ctr_firehose.json.tmpl", tag, base, tmp_path)
    ivr_file = render_sample("ivr_survey.csv.tmpl", tag, base, tmp_path)
    ctr = AmazonConnectCtrConnector(CtrConfig())
    ivr = IvrSurveyCsvConnector(IvrSurveyConfig(touchpoint=f"post_call_survey_{tag}"))
    for _ in range(2):  # a re-sent file changes nothing
        ctr_summary = ingest_file(ctr, ctr_file, publisher_for(running_stack, ctr))
        ivr_summary = ingest_file(ivr, ivr_file, publisher_for(running_stack, ivr))
        assert (ctr_summary.records, ctr_summary.accepted) == (10, 5)
        assert (ivr_summary.records, ivr_summary.accepted) == (9, 4)
    cxpulse(cli_env, "drain", "--timeout", "180")

    billing, chat, survey = f"ivr_billing_{tag}", f"chat_ho_tro_{tag}", f"post_call_survey_{tag}"
    rows = stored(server_db, [billing, chat, survey])
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)) == 6  # redelivered CTR and duplicate survey row stored once
    # c1's update (same ContactId, later LastUpdateTimestamp) is a newer version of one event
    assert {i for i in ids if i.startswith("ctr/")} == {f"ctr/{tag}-c1", f"ctr/{tag}-c2",
                                                        f"ctr/{tag}-c3"}
    versions = server_db.execute("SELECT max(version) FROM touchpoint_events WHERE event_id = %(id)s",
                                 {"id": f"ctr/{tag}-c1"})
    assert versions == [(t["t3"],)]  # the update's LastUpdateTimestamp
    assert {i for i in ids if i.startswith("ivr/")} >= {f"ivr/{tag}-c1", f"ivr/{tag}-c3"}
    by_id = {r[0]: r for r in rows}
    assert by_id[f"ctr/{tag}-c2"][1:3] == ("chat", chat)
    assert by_id[f"ctr/{tag}-c3"][7] == "agent.minh"
    text = repr(rows)
    assert "+84" not in text and "912 345" not in text and f"{tag}-cust" not in text
    assert all(str(r[3]).startswith("c_") for r in rows)  # every customer id pseudonymised

    figures = metrics(cli_env, "touchpoint", base - MIN_MS, base + 30 * MIN_MS)
    assert {k: figures[survey][k] for k in ("responses", "csat_responses", "csat_satisfied",
                                            "csat_sum", "nps_responses", "nps_promoters")} == {
        "responses": 3, "csat_responses": 3, "csat_satisfied": 2, "csat_sum": 11,
        "nps_responses": 2, "nps_promoters": 1}  # CSAT 5, 2, 4; NPS 9, 3
    assert {k: figures[billing][k] for k in ("contacts", "fcr_eligible", "complaints")} == {
        "contacts": 2, "fcr_eligible": 1, "complaints": 0}  # c3 has no contact reason
    # c1 counts once, as its latest version says: resolved, and 6 days old, so still pending
    assert {k: figures[billing][k] for k in ("fcr_first_contacts", "fcr_failure", "fcr_pending",
                                             "repeat_contacts")} == {
        "fcr_first_contacts": 1, "fcr_failure": 0, "fcr_pending": 1, "repeat_contacts": 0}
    assert {k: figures[chat][k] for k in ("contacts", "fcr_eligible", "complaints")} == {
        "contacts": 1, "fcr_eligible": 1, "complaints": 1}

    dlq = dead_letters(running_stack, tag)
    reasons = Counter({reason: n for (_, reason), n in dlq.items()})
    assert reasons == Counter({r: 2 for r in CTR_REASONS + IVR_REASONS})
