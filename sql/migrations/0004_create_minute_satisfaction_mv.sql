-- Each insert into touchpoint_events adds its events' flags to their own minute (late events too).
CREATE MATERIALIZED VIEW IF NOT EXISTS minute_satisfaction_mv TO minute_satisfaction AS
SELECT
    toStartOfMinute(occurred_at) AS minute,
    channel,
    touchpoint,
    journey_stage,
    partner_id,
    location_id,
    region,
    count() AS events,
    sum(kind = 'response') AS responses,
    sum(csat_response) AS csat_responses,
    sum(csat_satisfied) AS csat_satisfied,
    sum(ifNull(csat, 0)) AS csat_sum,
    sum(nps_response) AS nps_responses,
    sum(nps_promoter) AS nps_promoters,
    sum(nps_detractor) AS nps_detractors,
    sum(ces_response) AS ces_responses,
    sum(ces_easy) AS ces_easy,
    sum(ifNull(ces, 0)) AS ces_sum,
    sum(contact) AS contacts,
    sum(complaint) AS complaints,
    sum(fcr_eligible) AS fcr_eligible,
    sum(survey_fcr_response) AS survey_fcr_responses,
    sum(survey_fcr_yes) AS survey_fcr_yes
FROM touchpoint_events
GROUP BY minute, channel, touchpoint, journey_stage, partner_id, location_id, region;
