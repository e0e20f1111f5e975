-- Fixes a team made (METRICS.md, "Before/after of a fix"): a scope (dimension filters, parallel
-- arrays), the event time the fix took effect, and a note. fix_id is derived from the scope, the time
-- and the note, so recording the same fix again replaces it (highest version wins): read with FINAL.
CREATE TABLE IF NOT EXISTS fixes (
    fix_id String,
    at DateTime,
    scope_keys Array(String),
    scope_values Array(String),
    note String,
    created_at DateTime,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY fix_id;
