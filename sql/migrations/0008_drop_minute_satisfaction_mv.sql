-- Minute counts are no longer derived by a materialized view: an INSERT into touchpoint_events and its
-- view's insert are two writes, and a crash between them left events stored without their counts.
-- The worker now writes minute counts itself, with its Kafka checkpoints, in one atomic insert
-- (minute_counts, next migration). Stop the workers before migrating: an old worker's events would
-- otherwise be stored without counts.
DROP TABLE IF EXISTS minute_satisfaction_mv;
