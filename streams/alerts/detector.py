"""Satisfaction-drop detection: recent CSAT % per scope against the scope's own baseline.

Pure and clock-free: it is fed minute counts (event time) and asked to evaluate a minute; the worker
feeds it from ClickHouse every minute, ``cxpulse alerts backtest`` and ``make bench-alerts`` feed it
stored or simulated history.

Method: one-sided exact binomial test of the recent window's CSAT satisfied count against the
baseline share (the trailing 7 days before the window; thresholds are given as the z they stand
for), on two recent windows (10 and 30 minutes: busy
scopes are caught fast, quiet ones once enough presses came in). An alert fires when, for
``confirm_minutes`` evaluations in a row, some window has at least ``min_recent`` responses, the drop
is at least ``min_effect_pts`` points and the p-value is below that of z = -``z_fire``. It resolves
once, for ``resolve_minutes`` evaluations, the most recent window with enough responses (the
shortest) shows no weak drop (half the effect, the p-value of z = -``z_resolve``) and no window
still shows a drop strong enough to fire: hysteresis that follows recovery in the recent data.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sql.figures import csat_pct

MINUTE_S = 60
DAY_S = 86_400


@dataclass(frozen=True)
class DetectorParams:
    """Thresholds; the defaults are tuned by ``make bench-alerts``."""

    windows_min: tuple[int, ...] = (10, 30)
    baseline_s: int = 7 * DAY_S
    min_recent: int = 40
    min_baseline: int = 200
    min_effect_pts: float = 8.0
    z_fire: float = 4.75
    z_resolve: float = 2.0
    confirm_minutes: int = 2
    resolve_minutes: int = 3


Scope = tuple[str, str]
"""(kind, value): ("channel", "web"), ("channel_touchpoint", "web/checkout"), ("partner", "p1"), ..."""


def scopes_of(channel: str, touchpoint: str, partner_id: str, location_id: str) -> list[Scope]:
    """The scopes one minute row of counts belongs to."""
    scopes = [("channel", channel), ("channel_touchpoint", f"{channel}/{touchpoint}")]
    if partner_id:
        scopes.append(("partner", partner_id))
    if location_id:
        scopes.append(("location", location_id))
    return scopes


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion, in percent."""
    if n == 0:
        return (0.0, 100.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(100 * (centre - half), 2), round(100 * (centre + half), 2))


EXACT_TAIL_MAX_N = 2000
"""Up to this many recent responses the binomial tail is summed exactly; the normal approximation
fires far too often on small samples (a kiosk's 50 presses) because the lower tail is skewed."""


def lower_tail(successes: int, n: int, p: float) -> float:
    """P(X <= successes) for X ~ Binomial(n, p): the one-sided p-value of a drop."""
    if p <= 0:
        return 1.0
    if p >= 1:
        return 0.0 if successes < n else 1.0
    if n > EXACT_TAIL_MAX_N:
        z = (successes + 0.5 - n * p) / math.sqrt(n * p * (1 - p))
        return 0.5 * math.erfc(-z / math.sqrt(2))
    log_p, log_q = math.log(p), math.log(1 - p)
    terms = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p
             + (n - k) * log_q for k in range(successes + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def _one_sided(z: float) -> float:
    """The one-sided p-value a z threshold stands for."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def z_score(s1: int, n1: int, s0: int, n0: int) -> float:
    """Two-proportion z statistic (pooled), recent minus baseline; 0 where undefined."""
    pooled = (s1 + s0) / (n1 + n0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    return 0.0 if se == 0 else (s1 / n1 - s0 / n0) / se


def _pct(satisfied: int, responses: int) -> float:
    """CSAT % of a window that has responses (``sql.figures``, the one definition)."""
    value = csat_pct(satisfied, responses)
    assert value is not None
    return value


WindowCounts = dict[int, tuple[int, int, int, int]]
"""window minutes -> (recent responses, recent satisfied, baseline responses, baseline satisfied)."""


class MinuteHistory:
    """Minute CSAT counts per scope, with prefix sums so that any window is two look-ups.

    Minutes are expected roughly in order (replays, simulations); a late minute is accepted and makes
    the next read rebuild that scope's sums.
    """

    def __init__(self) -> None:
        self._cells: dict[Scope, dict[int, list[int]]] = defaultdict(dict)
        self._prefix: dict[Scope, tuple[list[int], list[int], list[int]]] = {}

    def add(self, minute_s: int, channel: str, touchpoint: str, partner_id: str, location_id: str,
            responses: int, satisfied: int) -> None:
        """Add the CSAT counts of one minute row to every scope it belongs to."""
        for scope in scopes_of(channel, touchpoint, partner_id, location_id):
            cell = self._cells[scope].setdefault(minute_s, [0, 0])
            cell[0] += responses
            cell[1] += satisfied
            self._prefix.pop(scope, None)

    def _sums(self, scope: Scope) -> tuple[list[int], list[int], list[int]]:
        if scope not in self._prefix:
            minutes, n, s = [], [0], [0]
            for minute, (rn, rs) in sorted(self._cells[scope].items()):
                minutes.append(minute)
                n.append(n[-1] + rn)
                s.append(s[-1] + rs)
            self._prefix[scope] = (minutes, n, s)
        return self._prefix[scope]

    def window(self, scope: Scope, start_s: int, end_s: int) -> tuple[int, int]:
        """(responses, satisfied) of minutes in [start_s, end_s)."""
        minutes, n, s = self._sums(scope)
        a, b = bisect_left(minutes, start_s), bisect_left(minutes, end_s)
        return n[b] - n[a], s[b] - s[a]

    def window_counts(self, end_s: int, params: DetectorParams) -> dict[Scope, WindowCounts]:
        """What ``Detector.evaluate`` needs, for every scope, for windows ending at ``end_s``."""
        result: dict[Scope, WindowCounts] = {}
        for scope in self._cells:
            counts: WindowCounts = {}
            for window in params.windows_min:
                start = end_s - window * MINUTE_S
                counts[window] = (*self.window(scope, start, end_s),
                                  *self.window(scope, start - params.baseline_s, start))
            result[scope] = counts
        return result


@dataclass
class _ScopeState:
    firing: bool = False
    streak: int = 0
    first_seen: int | None = None
    alert_id: str = ""


class Detector:
    """Keeps minute counts per scope and the alert state of each scope."""

    def __init__(self, params: DetectorParams | None = None, board_url: str = "") -> None:
        self.params = params or DetectorParams()
        self.board_url = board_url.rstrip("/")
        self._state: dict[Scope, _ScopeState] = defaultdict(_ScopeState)

    def restore(self, alert_id: str, scope: Scope, first_seen: int) -> None:
        """Take back an alert that was FIRING when the process stopped (so it can resolve)."""
        state = self._state[scope]
        state.firing, state.alert_id, state.first_seen, state.streak = True, alert_id, first_seen, 0

    def firing(self) -> list[Scope]:
        """Scopes with an alert FIRING now."""
        return [scope for scope, state in self._state.items() if state.firing]

    def evaluate(self, end_s: int, counts: dict[Scope, WindowCounts]) -> list[dict[str, Any]]:
        """Evaluate every scope on the windows ending at ``end_s``; return FIRING/RESOLVED alerts."""
        transitions = []
        for scope in set(counts) | set(self.firing()):
            windows = self._evidence(counts.get(scope, {}))
            alert = self._step(scope, end_s, windows)
            if alert:
                transitions.append(alert)
            state = self._state[scope]
            if not state.firing and not state.streak:  # idle: keep no state (scopes are free text)
                del self._state[scope]
        return transitions

    def _evidence(self, counts: WindowCounts) -> list[dict[str, Any]]:
        """Evidence of every window with enough responses on both sides, shortest window first."""
        p = self.params
        found = []
        for window, (n1, s1, n0, s0) in sorted(counts.items()):
            if n1 < p.min_recent or n0 < p.min_baseline:
                continue
            found.append({"window_min": window, "recent_n": n1, "recent_satisfied": s1,
                          "baseline_n": n0, "baseline_satisfied": s0,
                          "p_value": lower_tail(s1, n1, s0 / n0),
                          "z": round(z_score(s1, n1, s0, n0), 3),
                          "effect_pts": round(_pct(s0, n0) - _pct(s1, n1), 2)})
        return found

    def _step(self, scope: Scope, end_s: int, windows: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Fire on the strongest window; resolve on the most recent one.

        Resolving needs the shortest window with data to show no weak drop, and no window to
        still show a drop strong enough to fire.
        """
        p, state = self.params, self._state[scope]
        ev = min(windows, key=lambda w: w["p_value"]) if windows else None
        strong = (ev is not None and ev["p_value"] <= _one_sided(p.z_fire)
                  and ev["effect_pts"] >= p.min_effect_pts)
        latest = windows[0] if windows else None
        weak = strong or (latest is not None and latest["p_value"] <= _one_sided(p.z_resolve)
                          and latest["effect_pts"] >= p.min_effect_pts / 2)
        if not state.firing:
            state.streak = state.streak + 1 if strong else 0
            if state.streak == 1:
                state.first_seen = end_s
            if state.streak >= p.confirm_minutes and ev is not None:
                state.firing, state.streak = True, 0
                state.alert_id = f"{scope[0]}:{scope[1]}:csat_pct:{state.first_seen}"
                return self._alert("FIRING", scope, end_s, ev)
            return None
        state.streak = 0 if weak else state.streak + 1
        if state.streak >= p.resolve_minutes:
            state.firing, state.streak = False, 0
            return self._alert("RESOLVED", scope, end_s, latest)
        return None

    def _alert(self, status: str, scope: Scope, end_s: int, ev: dict[str, Any] | None
               ) -> dict[str, Any]:
        """The alert event with its evidence (values in percent, counts as n)."""
        state = self._state[scope]
        alert: dict[str, Any] = {
            "alert_id": state.alert_id, "status": status, "scope_kind": scope[0], "scope": scope[1],
            "metric": "csat_pct", "at": end_s, "first_seen": state.first_seen,
            "method": "one-sided exact binomial test vs trailing 7-day baseline",
            "link": self._link(scope),
        }
        if ev is not None:
            n1, s1 = ev["recent_n"], ev["recent_satisfied"]
            n0, s0 = ev["baseline_n"], ev["baseline_satisfied"]
            alert |= {
                "window_min": ev["window_min"], "recent_pct": round(_pct(s1, n1), 2), "recent_n": n1,
                "recent_interval": wilson(s1, n1), "baseline_pct": round(_pct(s0, n0), 2),
                "baseline_n": n0, "effect_pts": ev["effect_pts"], "z": ev["z"],
                "p_value": float(f"{ev['p_value']:.3g}"),
            }
        return alert

    def _link(self, scope: Scope) -> str:
        channel = scope[1].split("/", 1)[0] if scope[0].startswith("channel") else ""
        query = f"?var-channel={channel}" if channel else ""
        return f"{self.board_url}/d/cxpulse-ops-overview{query}"
