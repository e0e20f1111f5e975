-- Producers may batch events into one Kafka record (an envelope per partition): a stored copy is
-- identified by its record (kafka_partition, kafka_offset) and its place in it (kafka_index, 0 for a
-- record of one event).
ALTER TABLE touchpoint_events ADD COLUMN kafka_index UInt32 DEFAULT 0;
