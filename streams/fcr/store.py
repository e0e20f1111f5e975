"""What FCR reads from ClickHouse: the stored contacts (and outcomes) of some keys since a time."""

from __future__ import annotations

from sql.client import ServerDatabase
from streams.fcr.outcomes import Contact
from streams.fcr.processor import state_key


def stored_contacts(db: ServerDatabase, keys: list[str], from_ms: int
                    ) -> dict[str, list[tuple[Contact, bool, bool]]]:
    """Per key, every stored contact occurred at or after ``from_ms``, with (is_first, failed).

    ``fcr_contacts`` keeps every version of a row until merges remove old ones: ``FINAL`` reads the
    latest. The keys travel as an external table, matched against the table's sort key.
    """
    if not keys:
        return {}
    pairs = [key.split("\x1f", 1) for key in keys]
    rows = db.client.execute(
        "SELECT customer_id, contact_reason, occurred_at_ms, event_id, resolved, channel, touchpoint, "
        "journey_stage, partner_id, location_id, region, agent_id, is_first, failed "
        "FROM fcr_contacts FINAL WHERE (customer_id, contact_reason) IN fcr_keys "
        "AND occurred_at_ms >= %(from_ms)s",
        {"from_ms": from_ms},
        external_tables=[{"name": "fcr_keys",
                          "structure": [("customer_id", "String"), ("contact_reason", "String")],
                          "data": [{"customer_id": c, "contact_reason": r} for c, r in pairs]}],
    )
    found: dict[str, list[tuple[Contact, bool, bool]]] = {}
    for (customer, reason, at, event_id, resolved, channel, touchpoint, stage, partner, location,
         region, agent, is_first, failed) in rows:
        contact: Contact = (int(at), event_id, bool(resolved), channel, touchpoint, stage, partner,
                            location, region, agent)
        found.setdefault(state_key(customer, reason), []).append((contact, bool(is_first), bool(failed)))
    return found
