-- Every accepted event, once (the worker inserts an event_id only if it is not stored yet), with its
-- satisfaction flags. Ordered by event_id for the dedupe look-up; partitioned by day for time filters.
-- Optional strings are '' when absent; occurred_at is second precision, occurred_at_ms exact.
CREATE TABLE IF NOT EXISTS touchpoint_events (
    event_id String,
    occurred_at DateTime,
    occurred_at_ms Int64,
    received_at_ms Int64,
    channel String,
    source String,
    kind String,
    touchpoint String,
    journey_stage String,
    customer_id String,
    interaction_id String,
    contact_reason String,
    resolved Nullable(UInt8),
    complaint UInt8,
    csat Nullable(UInt8),
    nps Nullable(UInt8),
    ces Nullable(UInt8),
    comment String,
    language String,
    partner_id String,
    location_id String,
    region String,
    agent_id String,
    attribute_keys Array(String),
    attribute_values Array(String),
    csat_response UInt8,
    csat_satisfied UInt8,
    nps_response UInt8,
    nps_promoter UInt8,
    nps_detractor UInt8,
    ces_response UInt8,
    ces_easy UInt8,
    contact UInt8,
    fcr_eligible UInt8,
    kafka_partition UInt16,
    kafka_offset UInt64,
    inserted_at DateTime DEFAULT now()
) ENGINE = MergeTree
PARTITION BY toYYYYMMDD(occurred_at)
ORDER BY event_id;
