-- A follow-up whose trigger a newer version of its event took back (a survey answer edited from
-- CSAT 2 to 5): the row stays with cancelled = 1 and counts in no figure.
ALTER TABLE followups ADD COLUMN cancelled UInt8 DEFAULT 0;
