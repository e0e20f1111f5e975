-- FCR role and outcome of every eligible contact, attributed to the contact's own minute and dimensions
-- (for a first contact: F's minute, channel, touchpoint, partner, location, agent). The worker rewrites
-- a key's rows whenever its contacts change; the highest version of a row wins, so read with FINAL.
-- An open first contact (failed = 0) is pending until now() passes decides_at, then a success.
CREATE TABLE IF NOT EXISTS fcr_contacts (
    customer_id String,
    contact_reason String,
    event_id String,
    occurred_at DateTime,
    occurred_at_ms Int64,
    channel String,
    touchpoint String,
    journey_stage String,
    partner_id String,
    location_id String,
    region String,
    agent_id String,
    resolved UInt8,
    is_first UInt8,
    failed UInt8,
    decides_at DateTime,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (customer_id, contact_reason, event_id);
