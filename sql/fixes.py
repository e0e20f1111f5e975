"""Fixes and their before/after comparison (METRICS.md, "Before/after of a fix").

A fix is a scope (dimension filters, e.g. ``touchpoint=checkout``), the event time ``at`` it took
effect and a note, stored in ``fixes``. Its comparison reads the scope's events in
``before = [at - L, at)`` and ``after = [at + settle, at + settle + L)`` (defaults L = 14 days,
settle = 0): CSAT % and FCR % as two proportions, NPS by its variance, CES mean by Welch's t
(``sql.stats``). Each figure's verdict:

- **not enough data** when either period has fewer than min n answers (decided first contacts for FCR);
- **improved** / **worse** when p < 0.05 and the difference is up / down (higher is better for all
  four: CES 7 = very easy);
- **no significant change** otherwise.

A fix's overall verdict: improved when some figure improved and none got worse, worse the other way
round, mixed when both, not enough data when no figure has enough, else no significant change.
Satisfaction counts come from the latest version of each event (``touchpoint_events``), FCR from
``fcr_contacts`` (``FCR_COUNTS``) decided as of the comparison's clock.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from sql.client import Database, checked_identifier
from sql.experience import SCOPE_DIMENSIONS, Selection, bound, latest_events
from sql.figures import FCR_COUNTS
from sql.stats import UNDEFINED, Comparison, Sample, compare_means, compare_nps, compare_proportions

ALPHA: Final = 0.05
VERDICTS: Final = ("improved", "worse", "no significant change", "not enough data")
FIGURES: Final = ("csat_pct", "nps", "ces_mean", "fcr_pct")
OVERALL: Final = "overall"
"""The figure name under which a fix's overall verdict is stored."""
DEFAULT_WINDOW_S: Final = 14 * 86_400
DEFAULT_SETTLE_S: Final = 0
_SATISFACTION: Final = {
    "csat_n": "sum(csat_response)", "csat_satisfied": "sum(csat_satisfied)",
    "nps_n": "sum(nps_response)", "promoters": "sum(nps_promoter)", "detractors": "sum(nps_detractor)",
    "ces_n": "sum(ces_response)", "ces_sum": "sum(toFloat64(ifNull(ces, 0)))",
    "ces_squares": "sum(toFloat64(ifNull(ces, 0)) * ifNull(ces, 0))",
}
"""Counts of one period from the stored contribution flags (one definition of each, in streams)."""


@dataclass(frozen=True)
class Fix:
    """A recorded fix: ``scope`` maps dimensions to values; ``at`` is epoch seconds (event time)."""

    fix_id: str
    at: int
    scope: dict[str, str]
    note: str

    def scope_text(self) -> str:
        """``touchpoint=checkout,location_id=x``."""
        return ",".join(f"{k}={v}" for k, v in self.scope.items())


def parse_scope(text: str) -> dict[str, str]:
    """``"touchpoint=checkout,location_id=x"`` -> a scope; ValueError naming every problem."""
    scope, problems = {}, []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        key, sep, value = (s.strip() for s in item.partition("="))
        if key not in SCOPE_DIMENSIONS:
            problems.append(f"unknown dimension {key!r} (use {', '.join(SCOPE_DIMENSIONS)})")
        elif not sep or not value:
            problems.append(f"{key}: give a value, e.g. {key}=...")
        elif key in scope:
            problems.append(f"{key} given twice")
        else:
            scope[key] = value
    if not scope and not problems:
        problems.append("a fix needs a scope, e.g. touchpoint=checkout")
    if problems:
        raise ValueError("fix scope: " + "; ".join(problems))
    return scope


def fix_id(scope: Mapping[str, str], at_s: int, note: str) -> str:
    """The id of a fix: the same scope, time and note always give the same id."""
    text = "\n".join([*(f"{k}={v}" for k, v in sorted(scope.items())), str(at_s), note])
    return "fix-" + hashlib.sha256(text.encode()).hexdigest()[:10]


def add_fix(db: Database, scope: Mapping[str, str], at_s: int, note: str) -> Fix:
    """Record a fix (again: replaced, same id); returns it."""
    fix = Fix(fix_id(scope, at_s, note), at_s, dict(scope), note)
    db.execute(
        "INSERT INTO fixes (fix_id, at, scope_keys, scope_values, note, created_at, version) "
        "SELECT %(fix_id)s, toDateTime(%(at)s), %(keys)s, %(values)s, %(note)s, now(), %(version)s",
        {"fix_id": fix.fix_id, "at": at_s, "keys": list(fix.scope), "values": list(fix.scope.values()),
         "note": note, "version": time.time_ns()})
    return fix


def _fix(row: Mapping[str, Any]) -> Fix:
    return Fix(row["fix_id"], int(row["at_s"]),
               dict(zip(row["scope_keys"], row["scope_values"], strict=True)), row["note"])


FIX_COLUMNS: Final = "fix_id, toUInt32(at) AS at_s, scope_keys, scope_values, note"


def list_fixes(db: Database) -> list[Fix]:
    """Every recorded fix, latest ``at`` first."""
    rows = db.query(f"SELECT {FIX_COLUMNS} FROM fixes FINAL ORDER BY at_s DESC, fix_id")  # noqa: S608
    return [_fix(r) for r in rows]


def get_fix(db: Database, fix_id_: str) -> Fix:
    """The fix with this id; LookupError if there is none."""
    rows = db.query(f"SELECT {FIX_COLUMNS} FROM fixes FINAL WHERE fix_id = %(id)s", {"id": fix_id_})  # noqa: S608
    if not rows:
        raise LookupError(f"no fix {fix_id_!r}: `cxpulse fixes list` shows the recorded ones")
    return _fix(rows[0])


def period_counts_sql(scope: Sequence[str], table: str) -> str:
    """Counts per period (``before``/``after``) of the scope's events in ``table``.

    ``table`` is ``touchpoint_events`` (satisfaction, latest version per event) or ``fcr_contacts``
    (FCR outcomes as of ``%(as_of)s``). Scope values are bound as ``%(scope_<dimension>)s``.
    """
    conditions = [f"{checked_identifier(k)} = %(scope_{k})s" for k in scope]
    periods = ("((occurred_at >= toDateTime(%(before_start)s) AND occurred_at < toDateTime(%(at)s)) OR "
               "(occurred_at >= toDateTime(%(after_start)s) AND occurred_at < toDateTime(%(after_end)s)))")
    where = " AND ".join([periods, *conditions])
    period = "if(occurred_at < toDateTime(%(at)s), 'before', 'after') AS period"
    if table == "touchpoint_events":
        counts = ", ".join(f"{sql} AS {name}" for name, sql in _SATISFACTION.items())
        source = latest_events(Selection(where, bound))
    else:
        counts = ", ".join(f"{FCR_COUNTS[name]} AS {name}" for name in ("fcr_success", "fcr_failure"))
        source = f"fcr_contacts FINAL WHERE {where}"
    return f"SELECT {period}, {counts} FROM {source} GROUP BY period"  # noqa: S608 - identifiers checked


@dataclass(frozen=True)
class FigureComparison:
    """One figure before and after a fix, with its n, the comparison and the verdict."""

    figure: str
    before: float | None
    before_n: int
    after: float | None
    after_n: int
    comparison: Comparison
    verdict: str


def verdict(comparison: Comparison, before_n: int, after_n: int, min_n: int) -> str:
    """The plain verdict of one figure (see the module doc)."""
    if before_n < min_n or after_n < min_n:
        return "not enough data"
    if comparison.p_value is None or comparison.p_value >= ALPHA or not comparison.difference:
        return "no significant change"
    return "improved" if comparison.difference > 0 else "worse"


def overall(verdicts: Sequence[str]) -> str:
    """A fix's verdict from its figures' verdicts."""
    if "improved" in verdicts:
        return "mixed" if "worse" in verdicts else "improved"
    if "worse" in verdicts:
        return "worse"
    return "not enough data" if all(v == "not enough data" for v in verdicts) else "no significant change"


def _figure(name: str, before: dict[str, float], after: dict[str, float], min_n: int) -> FigureComparison:
    if name in ("csat_pct", "fcr_pct"):
        hits, n = ("csat_satisfied", "csat_n") if name == "csat_pct" else ("fcr_success", "fcr_decided")
        b, a = (int(before[hits]), int(before[n])), (int(after[hits]), int(after[n]))
        raw = compare_proportions(*b, *a)
        difference, low, high = (None if x is None else 100 * x for x in (raw.difference, raw.low, raw.high))
        comparison = Comparison(difference, low, high, raw.p_value, raw.method)
        values = [100 * s / t if t else None for s, t in (b, a)]
        return FigureComparison(name, values[0], b[1], values[1], a[1], comparison,
                                verdict(comparison, b[1], a[1], min_n))
    if name == "nps":
        b3, a3 = ((int(c["promoters"]), int(c["detractors"]), int(c["nps_n"])) for c in (before, after))
        values = [100 * (p - d) / t if t else None for p, d, t in (b3, a3)]
        comparison = compare_nps(b3, a3)
        return FigureComparison(name, values[0], b3[2], values[1], a3[2], comparison,
                                verdict(comparison, b3[2], a3[2], min_n))
    b_s, a_s = (Sample(int(c["ces_n"]), c["ces_sum"], c["ces_squares"]) for c in (before, after))
    comparison = compare_means(b_s, a_s)
    return FigureComparison(name, b_s.mean if b_s.n else None, b_s.n, a_s.mean if a_s.n else None, a_s.n,
                            comparison, verdict(comparison, b_s.n, a_s.n, min_n))


def compare_fix(db: Database, fix: Fix, window_s: int = DEFAULT_WINDOW_S, settle_s: int = DEFAULT_SETTLE_S,
                min_n: int = 5, as_of_s: int | None = None) -> list[FigureComparison]:
    """Every figure of :data:`FIGURES` before and after ``fix`` (FCR decided as of ``as_of_s``, now)."""
    params: dict[str, Any] = {
        "at": fix.at, "before_start": fix.at - window_s, "after_start": fix.at + settle_s,
        "after_end": fix.at + settle_s + window_s,
        "as_of": int(time.time()) if as_of_s is None else as_of_s,
        **{f"scope_{k}": v for k, v in fix.scope.items()},
    }
    counts: dict[str, dict[str, float]] = {p: dict.fromkeys([*_SATISFACTION, "fcr_success", "fcr_failure"],
                                                             0.0) for p in ("before", "after")}
    for table in ("touchpoint_events", "fcr_contacts"):
        for row in db.query(period_counts_sql(list(fix.scope), table), params):
            counts[row["period"]].update({k: float(v) for k, v in row.items() if k != "period"})
    for side in counts.values():
        side["fcr_decided"] = side["fcr_success"] + side["fcr_failure"]
    return [_figure(name, counts["before"], counts["after"], min_n) for name in FIGURES]


def store_comparisons(db: Database, fix: Fix, results: Sequence[FigureComparison], window_s: int,
                      settle_s: int) -> None:
    """Keep the latest comparison of each figure of ``fix`` (``fix_comparisons``) for the boards.

    A row with figure ``overall`` holds the fix's overall verdict (its values NULL, its n 0).
    """
    version = time.time_ns()
    whole = FigureComparison(OVERALL, None, 0, None, 0, UNDEFINED, overall([r.verdict for r in results]))
    for r in [*results, whole]:
        c = asdict(r.comparison)
        db.execute(
            "INSERT INTO fix_comparisons (fix_id, figure, window_s, settle_s, before_value, before_n, "
            "after_value, after_n, difference, low, high, p_value, method, verdict, compared_at, version) "
            "SELECT %(fix_id)s, %(figure)s, %(window_s)s, %(settle_s)s, %(before)s, %(before_n)s, "
            "%(after)s, %(after_n)s, %(difference)s, %(low)s, %(high)s, %(p_value)s, %(method)s, "
            "%(verdict)s, now(), %(version)s",
            {"fix_id": fix.fix_id, "figure": r.figure, "window_s": window_s, "settle_s": settle_s,
             "before": r.before, "before_n": r.before_n, "after": r.after, "after_n": r.after_n,
             **c, "verdict": r.verdict, "version": version})


def stored_verdicts(db: Database) -> dict[str, dict[str, Any]]:
    """Per fix: its overall verdict from the latest stored comparison, and when it was computed."""
    rows = db.query("SELECT fix_id, verdict, toUInt32(compared_at) AS at_s FROM fix_comparisons FINAL "
                    "WHERE figure = %(overall)s", {"overall": OVERALL})
    return {r["fix_id"]: {"verdict": r["verdict"], "compared_at_s": int(r["at_s"])} for r in rows}
