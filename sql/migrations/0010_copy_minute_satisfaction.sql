-- Carry the counts of a database that ran the materialized view into minute_counts, once: the copy
-- runs only while minute_counts is still empty.
INSERT INTO minute_counts (minute, channel, touchpoint, journey_stage, partner_id, location_id, region,
    checkpoint, events, responses, csat_responses, csat_satisfied, csat_sum, nps_responses,
    nps_promoters, nps_detractors, ces_responses, ces_easy, ces_sum, contacts, complaints, fcr_eligible,
    survey_fcr_responses, survey_fcr_yes, applied_offset)
SELECT minute, channel, touchpoint, journey_stage, partner_id, location_id, region, '',
    toInt64(sum(events)), toInt64(sum(responses)), toInt64(sum(csat_responses)),
    toInt64(sum(csat_satisfied)), toInt64(sum(csat_sum)), toInt64(sum(nps_responses)),
    toInt64(sum(nps_promoters)), toInt64(sum(nps_detractors)), toInt64(sum(ces_responses)),
    toInt64(sum(ces_easy)), toInt64(sum(ces_sum)), toInt64(sum(contacts)), toInt64(sum(complaints)),
    toInt64(sum(fcr_eligible)), toInt64(sum(survey_fcr_responses)), toInt64(sum(survey_fcr_yes)), 0
FROM minute_satisfaction
WHERE (SELECT count() FROM minute_counts) = 0
GROUP BY minute, channel, touchpoint, journey_stage, partner_id, location_id, region;
