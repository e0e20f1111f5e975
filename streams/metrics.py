"""Prometheus metrics of the worker (served on the worker's web port at /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_IN = Counter("cxpulse_worker_events_in_total", "Events consumed (each event of an envelope counts)")
EVENTS_STORED = Counter("cxpulse_worker_events_stored_total", "New events written to ClickHouse")
DUPLICATES_DROPPED = Counter(
    "cxpulse_worker_duplicates_dropped_total", "Records whose event_id was already counted"
)
DEAD_LETTERED = Counter(
    "cxpulse_worker_events_dead_lettered_total", "Records sent to the dead-letter topic", ["reason"]
)
SINK_BATCH_SIZE = Histogram(
    "cxpulse_sink_batch_size", "Events per ClickHouse write",
    buckets=(1, 10, 100, 1_000, 5_000, 10_000, 50_000),
)
SINK_LATENCY = Histogram(
    "cxpulse_sink_write_seconds", "Time of one ClickHouse insert of a batch's rows, per table",
    ["table"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SINK_FAILURES = Counter("cxpulse_sink_failures_total", "Failed ClickHouse calls (the batch is retried)")
FCR_CACHED_CONTACTS = Gauge(
    "cxpulse_fcr_cached_contacts", "FCR contacts held in the worker's cache (ClickHouse holds them all)"
)
FCR_EVICTED_CONTACTS = Counter(
    "cxpulse_fcr_evicted_contacts", "FCR contacts evicted from the worker's full cache: fast growth "
    "means returning customers' keys leave it before they return (raise CXPULSE_FCR_CACHE_CONTACTS)"
)
STORED_INDEX_BYTES = Gauge(
    "cxpulse_stored_index_bytes",
    "Memory of the worker's index of what is stored, per table (8 bytes a stored row, by design)",
    ["index"],
)
CONSUMER_LAG = Gauge(
    "cxpulse_consumer_lag", "Records not yet committed by the worker group", ["topic", "partition"]
)
SCOPE_CSAT_PCT = Gauge(
    "cxpulse_scope_csat_pct", "CSAT % of the last 30 minutes of event time", ["scope_kind", "scope"]
)
SCOPE_CSAT_RESPONSES = Gauge(
    "cxpulse_scope_csat_responses", "CSAT responses in the last 30 minutes of event time",
    ["scope_kind", "scope"],
)
ALERT_ACTIVE = Gauge(
    "cxpulse_alert_active", "1 while a satisfaction-drop alert is FIRING, 0 once RESOLVED",
    ["scope_kind", "scope", "metric", "severity", "channel"],
)
KIOSK_LAST_FEEDBACK_AGE = Gauge(
    "cxpulse_kiosk_last_feedback_age_seconds", "Seconds since the last kiosk press seen", ["location"]
)
ALERT_EVALUATION_FAILURES = Counter(
    "cxpulse_alert_evaluation_failures_total", "Detector runs that failed (retried on the next batch)"
)
