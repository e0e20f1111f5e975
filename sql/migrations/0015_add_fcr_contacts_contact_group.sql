-- Legs of one contact (a call transferred between queues or agents) are one contact for FCR: every
-- leg's row names the contact it belongs to ('' = its own). The contact's outcome is on the row of its
-- first leg (removed = 0); the other legs' rows have removed = 2 and count in no figure.
ALTER TABLE fcr_contacts ADD COLUMN contact_group String DEFAULT '';
