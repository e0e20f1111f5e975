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
