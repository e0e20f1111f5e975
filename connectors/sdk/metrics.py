"""Prometheus counters of the publish path (one set per process, labelled by connector source)."""

from prometheus_client import Counter

EVENTS_PUBLISHED = Counter(
    "cxpulse_connector_events_published_total", "Valid events produced to Kafka", ["source"]
)
EVENTS_DEAD_LETTERED = Counter(
    "cxpulse_connector_events_dead_lettered_total",
    "Records sent to the dead-letter topic",
    ["source", "reason"],
)

CONNECTOR_RECORDS_IN = Counter(
    "cxpulse_connector_records_in_total", "Raw records handed to a connector", ["connector"]
)
CONNECTOR_EVENTS_OUT = Counter(
    "cxpulse_connector_events_out_total", "Events a connector produced that Kafka accepted", ["connector"]
)
CONNECTOR_REJECTED = Counter(
    "cxpulse_connector_rejected_total",
    "Records (or events) of a connector dead-lettered, by reason",
    ["connector", "reason"],
)
CONNECTOR_RETRIES = Counter(
    "cxpulse_connector_retries_total", "Transient errors retried with backoff", ["connector"]
)
