"""Alert quality benchmark (`make bench-alerts`): false alarms and detection delays, by simulation.

Scenarios with fixed seeds: 24 h of stable traffic (3 seeds), and incidents of 10, 15 and 25 CSAT
points on one channel, one touchpoint and one kiosk location. Each run simulates 6 h of history for
the baseline before the evaluated period, feeds the minute counts to the detector and evaluates it
every minute of event time, as the worker does. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from connectors.simulator.traffic import Incident, Simulation
from streams.alerts.detector import Detector, DetectorParams, MinuteHistory, Scope

HOUR_S = 3600
DAY0_S = 1_795_478_400  # a Monday, 00:00 UTC
WARMUP_S = 6 * HOUR_S
INCIDENT_START_S = DAY0_S + 10 * HOUR_S + 30 * 60  # 10:30 UTC, busy hours
INCIDENT_S = HOUR_S
INCIDENT_TARGETS: dict[str, dict[str, str]] = {
    "channel": {"channel": "web", "touchpoint": "", "location_id": ""},
    "touchpoint": {"channel": "web", "touchpoint": "checkout", "location_id": ""},
    "location": {"channel": "", "touchpoint": "", "location_id": "kiosk-hcm-q1"},
}


@dataclass(frozen=True)
class Run:
    """One simulated scenario."""

    name: str
    seed: int
    start_s: int
    end_s: int
    rate: float = 1.2
    """Mean events/s: 1.2 gives web ~40 and web/checkout ~22 CSAT responses/min by day; 0.4 gives
    a kiosk location ~2 presses/min."""
    incident: Incident | None = None
    target: Scope | None = None

    def affected(self, scope: Scope) -> bool:
        """Whether the incident legitimately drops ``scope`` (an alert there is no false alarm)."""
        if self.incident is None:
            return False
        kind, value = scope
        inc = self.incident
        if inc.location_id:
            return scope == ("location", inc.location_id) or value.split("/")[0] == "kiosk"
        if kind == "channel_touchpoint":
            return value == f"{inc.channel}/{inc.touchpoint}" or (
                not inc.touchpoint and value.startswith(f"{inc.channel}/"))
        return scope == ("channel", inc.channel)


TARGET_SCOPES: dict[str, Scope] = {
    "channel": ("channel", "web"),
    "touchpoint": ("channel_touchpoint", "web/checkout"),
    "location": ("location", "kiosk-hcm-q1"),
}


def runs() -> Iterator[Run]:
    """The benchmark's scenarios."""
    for seed in (1, 2, 3):
        yield Run(f"stable 24 h, seed {seed}", seed, DAY0_S, DAY0_S + 24 * HOUR_S)
    for kind, target in INCIDENT_TARGETS.items():
        for drop in (10, 15, 25):
            incident = Incident((INCIDENT_START_S) * 1000, (INCIDENT_START_S + INCIDENT_S) * 1000,
                                drop=drop / 100, **target)
            yield Run(f"{drop}-point drop, {kind}", 7, INCIDENT_START_S - 2 * HOUR_S,
                      INCIDENT_START_S + 3 * HOUR_S, 0.4 if kind == "location" else 1.2,
                      incident, TARGET_SCOPES[kind])


def simulate(run: Run) -> MinuteHistory:
    """Minute CSAT counts of the run (history included), per scope."""
    history = MinuteHistory()
    simulation = Simulation(seed=run.seed, start_ms=(run.start_s - WARMUP_S) * 1000,
                            end_ms=run.end_s * 1000, rate=run.rate, incident=run.incident,
                            id_prefix=f"bench-{run.seed}")
    for e in simulation.events():
        if e["csat"] is not None:
            history.add(e["occurred_at"] // 60_000 * 60, e["channel"], e["touchpoint"],
                        e["partner_id"], e["location_id"], 1, int(e["csat"] >= 4))
    return history


def evaluate(run: Run, params: DetectorParams) -> dict[str, Any]:
    """Run the detector minute by minute; summarise its alerts against what the run contains."""
    history = simulate(run)
    detector = Detector(params)
    alerts = []
    for end_s in range(run.start_s + 60, run.end_s + 1, 60):
        alerts += detector.evaluate(end_s, history.window_counts(end_s, params))
    scopes = {(a["scope_kind"], a["scope"]) for a in alerts}
    false = [a for a in alerts if a["status"] == "FIRING"
             and not run.affected((a["scope_kind"], a["scope"]))]
    result: dict[str, Any] = {"run": run.name, "alerts": len(alerts), "false_alarms": len(false),
                              "false_scopes": sorted(f"{a['scope_kind']}={a['scope']}" for a in false),
                              "detect_min": None, "resolve_min": None, "n_per_min": None}
    if run.target and run.incident:
        target = run.target
        start_s, end_s = run.incident.start_ms // 1000, run.incident.end_ms // 1000
        fired = [a for a in alerts if a["status"] == "FIRING" and (a["scope_kind"], a["scope"]) == target]
        resolved = [a for a in alerts if a["status"] == "RESOLVED"
                    and (a["scope_kind"], a["scope"]) == target and a["at"] >= end_s]
        n, _ = history.window(target, start_s, end_s)
        result["n_per_min"] = round(n / (INCIDENT_S / 60), 1)
        if fired:
            result["detect_min"] = round((fired[0]["at"] - start_s) / 60, 1)
        if resolved:
            result["resolve_min"] = round((resolved[0]["at"] - end_s) / 60, 1)
    result["unresolved"] = sorted(s for s in scopes if s in detector.firing())
    return result


def main() -> None:
    """Command line: detector thresholds can be overridden to tune them."""
    parser = argparse.ArgumentParser(description=__doc__)
    defaults = DetectorParams()
    for name in ("min_recent", "min_baseline", "confirm_minutes", "resolve_minutes"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("min_effect_pts", "z_fire", "z_resolve"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    args = vars(parser.parse_args())
    params = DetectorParams(**args)
    started = time.monotonic()
    print(f"detector: {params}")
    print(f"{'scenario':<28} {'resp/min':>8} {'detected after':>15} {'resolved after':>15} "
          f"{'false alarms':>12}")
    with ProcessPoolExecutor(max_workers=2) as pool:
        for r in pool.map(evaluate, list(runs()), [params] * 12):
            detect = "-" if r["detect_min"] is None else f"{r['detect_min']:.0f} min"
            resolve = "-" if r["resolve_min"] is None else f"{r['resolve_min']:.0f} min"
            if r["n_per_min"] is None:
                detect = resolve = "n/a"
            print(f"{r['run']:<28} {r['n_per_min'] or '':>8} {detect:>15} {resolve:>15} "
                  f"{r['false_alarms']:>12}  {' '.join(r['false_scopes'][:3])}"
                  + (f"  still firing: {r['unresolved']}" if r["unresolved"] else ""))
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
