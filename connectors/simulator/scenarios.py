"""The simulator's scenarios: what a run of given length, rate and seed looks like.

``steady`` is ordinary traffic; ``incident`` drops CSAT on web checkout and one kiosk location by
~25 points for part of the run (``incident_window``); ``fix`` raises CSAT on web order status by ~15
points from the middle of the run on (``fix_time``: a fix whose before/after comparison must say
"improved", while every other touchpoint stays as it was). ``generate_events`` is the pure generator the
connector, ``cxpulse simulate --output`` and the tests share.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from connectors.simulator.model import MINUTE_MS
from connectors.simulator.traffic import Improvement, Incident, Simulation

SCENARIOS = ("steady", "incident", "fix")
INCIDENT_START_FRACTION = 0.4
INCIDENT_END_FRACTION = 0.6
"""A run of known duration has its incident in [40%, 60%) of the run."""
ENDLESS_INCIDENT_MS = (5 * MINUTE_MS, 20 * MINUTE_MS)
"""A run until Ctrl-C has its incident from 5 to 20 minutes after it started."""


FIX_FRACTION = 0.5
"""A run of known duration has its fix at the middle of the run."""
ENDLESS_FIX_MS = 10 * MINUTE_MS
"""A run until Ctrl-C has its fix 10 minutes after it started."""
FIXED_TOUCHPOINT = ("web", "order_status")
EMERGING_FRACTION = 0.8
"""In every scenario, from 80% of a run of known duration on (10 minutes into an endless one),
unhappy app and checkout customers start writing about a new problem (``comments.EMERGING``): over
a 35-day run, that is its last week."""


def emerging_from(start_ms: int, duration_s: float | None) -> int:
    """Event time (epoch ms) from which the emerging complaint appears in comments."""
    if not duration_s:
        return start_ms + ENDLESS_FIX_MS
    return start_ms + int(duration_s * 1000 * EMERGING_FRACTION)
"""(channel, touchpoint) the ``fix`` scenario improves."""


def fix_time(start_ms: int, duration_s: float | None) -> int:
    """Event time (epoch ms) from which the ``fix`` scenario's touchpoint is better."""
    if not duration_s:
        return start_ms + ENDLESS_FIX_MS
    return start_ms + int(duration_s * 1000 * FIX_FRACTION)


def incident_window(start_ms: int, duration_s: float | None) -> tuple[int, int]:
    """[start, end) of the incident in event time (epoch ms); ``duration_s`` None or 0 = endless run."""
    if not duration_s:
        return start_ms + ENDLESS_INCIDENT_MS[0], start_ms + ENDLESS_INCIDENT_MS[1]
    span_ms = duration_s * 1000
    return (start_ms + int(span_ms * INCIDENT_START_FRACTION),
            start_ms + int(span_ms * INCIDENT_END_FRACTION))


def check_arguments(scenario: str, rate: float, duration_s: float) -> None:
    """Raise one ValueError naming every problem with these arguments."""
    problems = []
    if scenario not in SCENARIOS:
        problems.append(f"unknown scenario {scenario!r}: choose one of {', '.join(SCENARIOS)}")
    if not (math.isfinite(rate) and rate > 0):
        problems.append(f"rate must be a positive number of events/s, got {rate}")
    if not (math.isfinite(duration_s) and duration_s >= 0):
        problems.append(f"duration must be >= 0 seconds, got {duration_s}")
    if problems:
        raise ValueError("; ".join(problems))


def simulation(scenario: str, seed: int, start_ms: int, duration_s: float, rate: float,
               id_prefix: str) -> Simulation:
    """One seeded run of ``scenario`` (``duration_s`` 0: endless); ValueError for bad arguments."""
    check_arguments(scenario, rate, duration_s)
    end_ms = start_ms + int(duration_s * 1000) if duration_s > 0 else None
    incident = Incident(*incident_window(start_ms, duration_s)) if scenario == "incident" else None
    improvement = (Improvement(fix_time(start_ms, duration_s), *FIXED_TOUCHPOINT)
                   if scenario == "fix" else None)
    return Simulation(seed=seed, start_ms=start_ms, end_ms=end_ms, rate=rate, incident=incident,
                      id_prefix=id_prefix, improvement=improvement,
                      emerging_from_ms=emerging_from(start_ms, duration_s))


def generate_events(scenario: str, seed: int, start_ms: int, duration_s: float,
                    rate: float) -> Iterator[dict[str, Any]]:
    """Simulated events whose event time lies in [start_ms, start_ms + duration_s).

    ``rate`` is the mean events/s over a day (diurnal curve x Poisson arrivals). Yields canonical
    events in JSON form (every TouchpointEvent v1 field; epoch-ms ints; each one passes
    ``validate_event`` unchanged) in non-decreasing ``received_at`` order; ``received_at`` is
    0.1-3 s after ``occurred_at``, or minutes to hours for ~1% late events (always before the run's
    end). ``event_id`` is ``sim-{seed}-{n}``: the same seed gives the same output.
    ``duration_s`` 0 yields nothing. Raises ValueError for an unknown scenario or a bad rate.
    """
    if duration_s == 0:
        check_arguments(scenario, rate, duration_s)
        return iter(())
    return simulation(scenario, seed, start_ms, duration_s, rate, f"sim-{seed}").events()
