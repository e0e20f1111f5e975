"""Reading ``touchpoint_events`` event by event: the latest version of each event only.

The table keeps every version the worker stored (the dedupe look-up needs the history); a reader
that looks at single events (per agent, recoveries, comments) must see each ``event_id`` once, as its
highest version. Minute counts need none of this: the worker takes a replaced version's counts out.
"""

from __future__ import annotations


def latest_events(where: str) -> str:
    """SQL (a parenthesised subquery) for the latest version of every event satisfying ``where``.

    ``where`` is a code constant over ``touchpoint_events`` columns (bound parameters allowed, never
    values from input). An event is found by any of its versions, its newest is taken, and ``where``
    is applied again to that one: a newer version that moved an event out of the filter removes it.
    ``GLOBAL IN``: over a cluster's Distributed table the ids are gathered once, then sent to every
    shard (on one server it is ``IN``).
    """
    return (
        "(SELECT * FROM (SELECT * FROM touchpoint_events "  # noqa: S608 - code constants only
        f"WHERE event_id GLOBAL IN (SELECT event_id FROM touchpoint_events WHERE {where}) "
        f"ORDER BY event_id, version DESC LIMIT 1 BY event_id) WHERE {where})"
    )
