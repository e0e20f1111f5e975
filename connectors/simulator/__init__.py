"""Realistic omnichannel traffic: the ``simulator`` connector, its model and its scenarios.

``model`` (the simulated company and its samplers), ``traffic`` (the seeded event engine),
``scenarios`` (steady, incident, fix; the pure generator), ``connector`` (the pull source), ``run``
(``cxpulse simulate``: into Kafka through the runtime, or to a JSON-lines file).
"""

from connectors.simulator.run import SimulationOptions, run_simulation
from connectors.simulator.scenarios import (
    SCENARIOS,
    emerging_from,
    fix_time,
    generate_events,
    incident_window,
)

__all__ = ["SCENARIOS", "SimulationOptions", "emerging_from", "fix_time", "generate_events",
           "incident_window", "run_simulation"]
