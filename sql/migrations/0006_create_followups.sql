-- Closed-loop follow-ups, one per triggering event (CSAT <= 2, NPS <= 6 or a complaint), keyed by that
-- event's event_id. Writing a follow-up again replaces it (highest version wins): read with FINAL.
-- Recovery is not stored: queries decide it from touchpoint_events (a CSAT >= 4 response of the same
-- customer in (occurred_at_ms, recover_by_ms]), so it is exact whatever order events arrive in.
-- customer_id is '' for an anonymous trigger (never recovered). Times are event time, UTC.
CREATE TABLE IF NOT EXISTS followups (
    event_id String,
    occurred_at DateTime,
    occurred_at_ms Int64,
    customer_id String,
    kind String,
    channel String,
    touchpoint String,
    journey_stage String,
    partner_id String,
    location_id String,
    region String,
    agent_id String,
    route String,
    low_csat UInt8,
    detractor UInt8,
    complaint UInt8,
    csat Nullable(UInt8),
    nps Nullable(UInt8),
    due_at DateTime,
    due_at_ms Int64,
    recover_by_ms Int64,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY event_id;
