"""Acceptance: no raw email, phone number, card number or customer id reaches Kafka or ClickHouse.

Records full of PII go through every connector path — ``cxpulse publish`` JSON lines, call-center CTR
JSON and IVR survey CSV (``ingest_file``), the retail-partner drop folder (``process_drop_folder``),
the HTTP ingest service —
good ones and malformed ones that end on the dead-letter topic. Once the worker drained, every record
(key, value, headers) of every topic under this run's prefix (touchpoints, dlq, followups, alerts)
and every row of every table of this run's database is scanned for the raw
strings, and must show the pseudonyms instead (so the scan cannot pass on empty data).

The HTTP ingest service (signed events and widget answers) is one more feeder. To cover another path,
write one more ``feed_*(run)`` function that sends records built with ``pii_comment`` and
``run.customer`` through it, and list it in ``FEEDERS``.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from connectors.call_center import (
    AmazonConnectCtrConnector,
    CtrConfig,
    IvrSurveyConfig,
    IvrSurveyCsvConnector,
)
from connectors.ingest.client import IngestClient
from connectors.retail_partner import RetailPartnerConfig, RetailPartnerCsvConnector
from connectors.sdk.files import ingest_file, process_drop_folder
from connectors.sdk.privacy import PrivacyKey, pseudonymise
from cxpulse.settings import Settings
from cxpulse.wiring import privacy_key
from schemas.kafka import end_offsets
from schemas.topics import Topics
from sql.client import ServerDatabase, checked_identifier
from tests.conftest import run_tag
from tests.integration.test_call_center_end_to_end import publisher_for
from tests.integration.test_end_to_end import cxpulse
from tests.integration.test_ingest_end_to_end import add_key

DAY_MS = 86_400_000
MIN_MS = 60_000
EMAIL = "an.nguyen@example.vn"
PHONE_INTL, PHONE_DOTS, PHONE_E164 = "+84 912 345 678", "0912.345.678", "+84912345678"
CARD = "4111 1111 1111 1111"
RAW_PII = [EMAIL, PHONE_INTL, PHONE_DOTS, PHONE_E164, "0912345678", CARD, "4111111111111111"]
DIGIT_RUNS = ["912345678", "4111111111111111"]
"""Looked for again with spaces, dots and dashes between digits removed."""


def pii_comment(customer: str) -> str:
    """Free text with every kind of PII in it, the customer's own raw id included."""
    return (f"Tôi là khách {customer}, email {EMAIL}, gọi {PHONE_INTL} hoặc zalo {PHONE_DOTS}; "
            f"thẻ {CARD} bị trừ tiền hai lần")


@dataclass
class PiiRun:
    """One scan's context; feeders record which raw customer ids they sent and where they must end."""

    settings: Settings
    env: dict[str, str]
    folder: Path
    tag: str
    key: PrivacyKey
    base_ms: int
    stored: list[str] = field(default_factory=list)
    """Raw ids of accepted events: their pseudonyms must be in ClickHouse and cx.touchpoints."""
    dead_lettered: list[str] = field(default_factory=list)
    """Raw ids only in rejected records: their pseudonyms must be on cx.dlq."""

    def raw_id(self, name: str) -> str:
        """The raw customer id ``name`` of this run."""
        return f"KH-{self.tag}-{name}"

    def customer(self, name: str, *, rejected: bool = False) -> str:
        """A raw customer id unique to this run, recorded for the scan."""
        raw = self.raw_id(name)
        (self.dead_lettered if rejected else self.stored).append(raw)
        return raw

    def iso(self, minute: int) -> str:
        """Event time ``minute`` minutes after the run's base, ISO-8601 UTC."""
        return datetime.fromtimestamp((self.base_ms + minute * MIN_MS) / 1000, UTC).isoformat()


def feed_publish_jsonl(run: PiiRun) -> None:
    """``cxpulse publish``: two good events, an invalid one, an unknown field and a broken line."""
    def event(name: str, customer: str, **extra: Any) -> dict[str, Any]:
        return {"event_id": f"{run.tag}-{name}", "occurred_at": run.base_ms, "channel": "web",
                "touchpoint": f"pii_web_{run.tag}", "customer_id": customer,
                "comment": pii_comment(customer), "attributes": {"contact": EMAIL, "zalo": PHONE_DOTS},
                **extra}

    unhappy = run.customer("web-1")
    contact = run.customer("web-2")
    lines = [
        orjson.dumps(event("r1", unhappy, kind="response", csat=1)),  # unhappy: a follow-up too
        orjson.dumps(event("c1", contact, kind="contact", contact_reason="billing", resolved=False,
                           complaint=True)),
        orjson.dumps(event("bad", run.customer("web-bad", rejected=True), kind="response", csat=9)),
        orjson.dumps({**event("odd", "", kind="response", csat=4), "customer_id": None,
                      "customerId": run.customer("web-odd", rejected=True)}),
        f'{{"event_id": "{run.tag}-junk", "customer_id": "{run.customer("web-junk", rejected=True)}", '
        f'"comment": "{EMAIL} {PHONE_DOTS}", "csat'.encode(),
    ]
    path = run.folder / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert "accepted 2, rejected 3" in cxpulse(run.env, "publish", str(path))


def feed_call_center_files(run: PiiRun) -> None:
    """CTRs (customer id attribute, caller number) and IVR survey rows, good and bad."""
    def ctr(contact: str, **over: Any) -> dict[str, Any]:
        return {"ContactId": f"{run.tag}-{contact}", "Channel": "VOICE",
                "InitiationTimestamp": run.iso(1), "LastUpdateTimestamp": run.iso(2),
                "Queue": {"Name": f"PII {run.tag}"}, "Agent": {"Username": "agent.linh"},
                "CustomerEndpoint": {"Address": PHONE_E164, "Type": "TELEPHONE_NUMBER"},
                "Attributes": {"ContactReason": "billing", "Resolved": "false"}, **over}

    run.stored.append(PHONE_E164)  # the caller's number is the customer id of a CTR without one
    records = [
        ctr("c1", Attributes={"CustomerId": run.customer("ctr-1"), "ContactReason": "billing",
                              "Resolved": "true", "Note": pii_comment("x")}),
        ctr("c2"),
        ctr("c3", ContactId=None, Attributes={"CustomerId": run.customer("ctr-bad", rejected=True),
                                              "Email": EMAIL}),
    ]
    ctr_path = run.folder / "ctr.json"
    junk = (f'{{"ContactId": "{run.tag}-c4", "Attributes": {{"CustomerId": '
            f'"{run.customer("ctr-junk", rejected=True)}", "Email": "{EMAIL}"')
    ctr_path.write_bytes(b"\n".join([*map(orjson.dumps, records), junk.encode()]) + b"\n")
    connector = AmazonConnectCtrConnector(CtrConfig())
    summary = ingest_file(connector, ctr_path, publisher_for(run.settings, connector))
    assert (summary.records, summary.accepted) == (4, 2), summary.line()

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ContactId", "Timestamp", "CustomerId", "CSAT", "NPS", "CES", "Comment", "Language"])
    good = run.customer("ivr-1")
    writer.writerow([f"{run.tag}-c1", run.iso(3), good, "2", "3", "", pii_comment(good), "vi"])
    bad = run.customer("ivr-bad", rejected=True)
    writer.writerow([f"{run.tag}-c2", run.iso(3), bad, "hai", "", "", pii_comment(bad), "vi"])
    ivr_path = run.folder / "ivr.csv"
    ivr_path.write_text(out.getvalue(), encoding="utf-8-sig")
    ivr = IvrSurveyCsvConnector(IvrSurveyConfig(touchpoint=f"pii_survey_{run.tag}"))
    summary = ingest_file(ivr, ivr_path, publisher_for(run.settings, ivr))
    assert (summary.records, summary.accepted) == (2, 1), summary.line()


def feed_retail_partner_drop(run: PiiRun) -> None:
    """A partner file whose customer column has its own name: one good row, two bad ones."""
    mapping = {"event_time": "Thời gian", "location": "Mã cửa hàng", "customer": "Mã khách hàng",
               "csat": "Điểm", "nps": None, "comment": "Nhận xét", "touchpoint": f"pii_store_{run.tag}"}
    connector = RetailPartnerCsvConnector(RetailPartnerConfig.model_validate(
        {"partners": {"piimart": mapping}}))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Thời gian", "Mã cửa hàng", "Mã khách hàng", "Điểm", "Nhận xét"])
    good, bad, late = (run.customer("rp-1"), run.customer("rp-bad", rejected=True),
                       run.customer("rp-late", rejected=True))
    writer.writerow([run.iso(4), f"{run.tag}-hcm01", good, "1", pii_comment(good)])
    writer.writerow([run.iso(4), f"{run.tag}-hcm01", bad, "năm", pii_comment(bad)])
    writer.writerow(["", f"{run.tag}-hcm01", late, "5", pii_comment(late)])
    drop = run.folder / "drop"
    drop.mkdir()
    (drop / "piimart__pii.csv").write_text(out.getvalue(), encoding="utf-8-sig")
    [result] = process_drop_folder(drop, connector, publisher_for(run.settings, connector))
    assert (result.summary.records, result.summary.accepted) == (3, 1), result.line()


def feed_ingest_http(run: PiiRun) -> None:
    """The HTTP ingest service: signed canonical events and widget answers, good and bad."""
    key_id, secret = add_key(run.settings, source="pii-shop")
    client = IngestClient(f"http://127.0.0.1:{run.settings.ingest_port}", key_id, secret)

    def event(name: str, customer: str, **extra: Any) -> dict[str, Any]:
        return {"event_id": f"{run.tag}-http-{name}", "occurred_at": run.base_ms, "channel": "web",
                "kind": "response", "touchpoint": f"pii_http_{run.tag}", "customer_id": customer,
                "comment": pii_comment(customer), "attributes": {"contact": EMAIL}, **extra}

    answer = client.post_events([
        event("r1", run.customer("http-1"), csat=2),
        event("bad", run.customer("http-bad", rejected=True), csat=9),
        {"kind": "response", "customerId": run.customer("http-noid", rejected=True),
         "comment": pii_comment("x")}])
    assert [r["status"] for r in answer.body["results"]] == ["accepted", "rejected", "rejected"]
    assert EMAIL not in str(answer.body) and PHONE_DOTS not in str(answer.body)
    survey = client.post("/v1/surveys/web", [
        {"id": f"{run.tag}-survey-1", "touchpoint": f"pii_http_{run.tag}", "scale": "smiley",
         "score": 1, "customer": run.customer("http-widget"), "page": f"/cart?email={EMAIL}",
         "comment": pii_comment(run.raw_id("http-widget"))},
        {"id": f"{run.tag}-survey-2", "touchpoint": "x", "scale": "nps", "score": 42,
         "customer": run.customer("http-widget-bad", rejected=True), "comment": pii_comment("y")}])
    assert [r["status"] for r in survey.body["results"]] == ["accepted", "rejected"]


FEEDERS: list[Callable[[PiiRun], None]] = [
    feed_publish_jsonl, feed_call_center_files, feed_retail_partner_drop, feed_ingest_http,
]


def topic_records(bootstrap: str, prefix: str) -> dict[str, list[tuple[bytes, dict[str, bytes]]]]:
    """Every record of every topic whose name starts with ``prefix``: (key + value, headers)."""
    names = [t for t in AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
             if t.startswith(prefix)]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"pii-scan-{time.time_ns()}",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    metadata = consumer.list_topics(timeout=10).topics
    partitions = [(t, p) for t in names for p in metadata[t].partitions]
    high = end_offsets(bootstrap, partitions)
    found: dict[str, list[tuple[bytes, dict[str, bytes]]]] = {t: [] for t in names}
    position = {tp: 0 for tp in partitions}
    consumer.assign([TopicPartition(t, p, 0) for t, p in partitions if high[(t, p)] > 0])
    deadline = time.monotonic() + 30
    while any(position[tp] < high[tp] for tp in partitions):
        assert time.monotonic() < deadline, "topics not read to their end in 30 s"
        for msg in consumer.consume(1000, 0.2):
            if msg.error() is None:
                found[msg.topic()].append(((msg.key() or b"") + b"\n" + (msg.value() or b""),
                                           dict(msg.headers() or [])))
                position[(msg.topic(), msg.partition())] = msg.offset() + 1
    consumer.close()
    return found


def table_rows(db: ServerDatabase, database: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (views included) of ``database``."""
    names = [r[0] for r in db.execute("SELECT name FROM system.tables WHERE database = %(db)s",
                                      {"db": database})]
    return {name: db.execute(f"SELECT * FROM {checked_identifier(name)}") for name in names}


def leaks(where: str, blob: str, raw: list[str]) -> list[str]:
    """The raw strings visible in ``blob`` (digit runs also with their separators removed)."""
    joined = re.sub(r"(?<=\d)[ .\-](?=\d)", "", blob)
    hits = [(s, blob) for s in raw if s in blob] + [(d, joined) for d in DIGIT_RUNS if d in joined]
    return [f"{where}: {s!r} in ...{text[text.find(s):][:120]!r}" for s, text in hits]


def test_no_raw_pii_in_any_topic_or_table(running_stack: Settings, cli_env: dict[str, str],
                                          server_db: ServerDatabase, tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    # 6 days back: inside the lateness window, outside the windows other tests compare figures in
    run = PiiRun(running_stack, cli_env, tmp_path, run_tag("pii"), privacy_key(running_stack),
                 now - 6 * DAY_MS - 2 * 3_600_000)
    for feed in FEEDERS:
        feed(run)
    cxpulse(cli_env, "drain", "--timeout", "120")

    raw = RAW_PII + run.stored + run.dead_lettered
    topics = Topics(running_stack.topic_prefix)
    records = topic_records(running_stack.bootstrap, running_stack.topic_prefix)
    assert {topics.touchpoints, topics.dlq, topics.followups, topics.alerts} <= set(records)
    found: list[str] = []
    blobs: dict[str, str] = {}
    for topic, messages in records.items():
        text = "\n".join(value.decode("utf-8", "replace") + repr(headers) for value, headers in messages)
        blobs[topic] = text
        found += leaks(topic, text, raw)
    rows = table_rows(server_db, running_stack.clickhouse_database)
    assert {"touchpoint_events", "fcr_contacts", "followups"} <= set(rows)
    for table, table_data in rows.items():
        text = "\n".join(map(repr, table_data))
        blobs[f"table {table}"] = text
        found += leaks(f"table {table}", text, raw)
    assert not found, "\n".join(found)

    # Not vacuous: the records are there, with pseudonyms and redaction markers in place of the PII.
    pseudonyms = {c: pseudonymise(c, run.key) for c in run.stored + run.dead_lettered}
    for customer in run.stored:
        for where in (topics.touchpoints, "table touchpoint_events"):
            assert pseudonyms[customer] in blobs[where], (customer, where)
    for customer in run.dead_lettered:
        assert pseudonyms[customer] in blobs[topics.dlq], customer
    assert pseudonyms[run.raw_id("web-2")] in blobs["table fcr_contacts"]
    assert pseudonyms[run.raw_id("web-1")] in blobs[topics.followups]
    assert pseudonyms[run.raw_id("web-1")] in blobs["table followups"]
    stored_comments = [r for r in rows["touchpoint_events"] if run.tag in repr(r) and "[email]" in repr(r)]
    assert len(stored_comments) == 6, "web x2, IVR, retail and HTTP x2 comments stored, redacted"
    assert all("[phone]" in repr(r) and "[card]" in repr(r) for r in stored_comments)
    ours = [headers for value, headers in records[topics.dlq] if run.tag.encode() in value]
    # 3 + 2 + 1 + 2 fed by files, 2 of the 3 HTTP ones (the third has no tag once pseudonymised)
    assert len(ours) == 10 and all(h.get("cx.redacted") == b"1" for h in ours)
