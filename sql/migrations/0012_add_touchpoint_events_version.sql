-- The version of an event (METRICS.md, "Duplicates and newer versions"): for one event_id the highest
-- version counts. Events without a version have version 0.
ALTER TABLE touchpoint_events ADD COLUMN version UInt64 DEFAULT 0;
