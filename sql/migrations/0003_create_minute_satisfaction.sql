-- Minute satisfaction counts per dimension combination (counts, not ratios). Rows of one key are
-- summed by the engine in the background; every reader still aggregates with sum() and GROUP BY.
CREATE TABLE IF NOT EXISTS minute_satisfaction (
    minute DateTime,
    channel String,
    touchpoint String,
    journey_stage String,
    partner_id String,
    location_id String,
    region String,
    events UInt64,
    responses UInt64,
    csat_responses UInt64,
    csat_satisfied UInt64,
    csat_sum UInt64,
    nps_responses UInt64,
    nps_promoters UInt64,
    nps_detractors UInt64,
    ces_responses UInt64,
    ces_easy UInt64,
    ces_sum UInt64,
    contacts UInt64,
    complaints UInt64,
    fcr_eligible UInt64,
    survey_fcr_responses UInt64,
    survey_fcr_yes UInt64
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, channel, touchpoint, journey_stage, partner_id, location_id, region);
