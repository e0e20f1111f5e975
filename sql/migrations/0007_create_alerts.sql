-- Every alert transition with its evidence: one FIRING row, then one RESOLVED row, per alert_id.
-- (alert_id, status) is unique, so a re-evaluation after a restart replaces rather than adds.
CREATE TABLE IF NOT EXISTS alerts (
    alert_id String,
    status String,
    scope_kind String,
    scope String,
    metric String,
    severity String,
    at DateTime,
    first_seen DateTime,
    window_min UInt16,
    recent_pct Nullable(Float64),
    recent_n UInt64,
    recent_low Nullable(Float64),
    recent_high Nullable(Float64),
    baseline_pct Nullable(Float64),
    baseline_n UInt64,
    effect_pts Nullable(Float64),
    z Nullable(Float64),
    p_value Nullable(Float64),
    method String,
    link String
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (alert_id, status);
