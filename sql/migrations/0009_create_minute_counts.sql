-- Minute counts per dimension combination (counts, not ratios), written by the worker together with
-- its checkpoints in ONE insert. The table is not partitioned, so one insert is one part: ClickHouse
-- commits it whole or not at all, and a batch's counts and the checkpoint saying they were applied
-- can never be separated by a crash.
--
-- Two kinds of rows, both summed by the engine (readers still aggregate with sum() and GROUP BY):
-- - count rows: checkpoint = '', a minute of event time and its dimensions; columns are signed
--   deltas (a newer version of an event takes its old contribution out);
-- - checkpoint rows: minute = 1970-01-01 00:00:00 (before any storable event), dimensions '',
--   checkpoint = '<topic id>/<partition>', counts 0; sum(applied_offset) is the next offset of that
--   Kafka partition whose effects are not yet applied.
-- Every reader filters on minute >= a real start time, which excludes checkpoint rows.
CREATE TABLE IF NOT EXISTS minute_counts (
    minute DateTime,
    channel String,
    touchpoint String,
    journey_stage String,
    partner_id String,
    location_id String,
    region String,
    checkpoint String,
    events Int64,
    responses Int64,
    csat_responses Int64,
    csat_satisfied Int64,
    csat_sum Int64,
    nps_responses Int64,
    nps_promoters Int64,
    nps_detractors Int64,
    ces_responses Int64,
    ces_easy Int64,
    ces_sum Int64,
    contacts Int64,
    complaints Int64,
    fcr_eligible Int64,
    survey_fcr_responses Int64,
    survey_fcr_yes Int64,
    applied_offset Int64
) ENGINE = SummingMergeTree
ORDER BY (minute, channel, touchpoint, journey_stage, partner_id, location_id, region, checkpoint);
