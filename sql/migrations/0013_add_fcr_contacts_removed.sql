-- A contact that stopped being one of its key's contacts (a newer version of the event changed its
-- customer or reason, or made it ineligible): its row stays with removed = 1 and counts in no figure.
ALTER TABLE fcr_contacts ADD COLUMN removed UInt8 DEFAULT 0;
