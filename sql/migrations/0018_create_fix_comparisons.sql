-- The latest before/after comparison of each fix and figure, as `cxpulse fixes compare` computed it
-- (sql.stats: exact where a cell count is below 10, which SQL cannot do), so the boards can list
-- verdicts. One row per (fix_id, figure); a newer comparison replaces it: read with FINAL.
CREATE TABLE IF NOT EXISTS fix_comparisons (
    fix_id String,
    figure String,
    window_s UInt32,
    settle_s UInt32,
    before_value Nullable(Float64),
    before_n UInt64,
    after_value Nullable(Float64),
    after_n UInt64,
    difference Nullable(Float64),
    low Nullable(Float64),
    high Nullable(Float64),
    p_value Nullable(Float64),
    method String,
    verdict String,
    compared_at DateTime,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (fix_id, figure);
