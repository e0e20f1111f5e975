-- The customer's lifetime value an event carries (attributes.clv as a number, else NULL), as its own
-- column: revenue at risk reads it, and the boards' user, who may not read attribute values (free
-- text), can read this one. Older rows compute it on read.
ALTER TABLE touchpoint_events ADD COLUMN clv Nullable(Float64) DEFAULT toFloat64OrNull(attribute_values[indexOf(attribute_keys, 'clv')]);
