"""The quarterly voice-of-the-customer report: its figures, gathered from the one definition of each.

Every number comes from the function the matching command prints (``sql.figures.figures`` as
``cxpulse metrics``, ``sql.journey.journey`` as ``cxpulse journey``, ``sql.impact.impact`` as
``cxpulse impact``, ``sql.fixes.compare_fix`` as ``cxpulse fixes compare``, ``sql.voc`` as
``cxpulse voc``) over the same window ``[start, end)``, masked with the same min n, so the report and
the command line cannot disagree. ``cxpulse/report_html.py`` lays it out; ``cxpulse/charts.py`` draws.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sql.client import Database
from sql.experience import Assumptions

HEADLINE: Final = ("csat_pct", "nps", "ces_mean", "fcr_pct")
HEADLINE_N: Final = {
    "csat_pct": "csat_responses",
    "nps": "nps_responses",
    "ces_mean": "ces_responses",
    "fcr_pct": "fcr_decided",
}
_QUARTER: Final = re.compile(r"^(\d{4})Q([1-4])$")


def quarter_window(text: str) -> tuple[int, int]:
    """``2026Q4`` -> [2026-10-01, 2027-01-01) in epoch seconds (UTC)."""
    match = _QUARTER.match(text.strip().upper())
    if not match:
        raise ValueError(f"a quarter is written like 2026Q4, not {text!r}")
    year, quarter = int(match.group(1)), int(match.group(2))
    start = datetime(year, 3 * quarter - 2, 1, tzinfo=UTC)
    end = datetime(year + (quarter == 4), 1 if quarter == 4 else 3 * quarter + 1, 1, tzinfo=UTC)
    return int(start.timestamp()), int(end.timestamp())


def headline(db: Database, start_s: int, end_s: int, min_n: int, as_of_s: int) -> dict[str, Any]:
    """The window's totals (``cxpulse metrics --grain total``, masked), with ``fcr_decided``."""
    from sql.figures import figures, mask

    rows = [mask(r, min_n) for r in figures(db, start_s, end_s, [], "total", as_of_s)]
    row = rows[0] if rows else {}
    if row:
        row["fcr_decided"] = row["fcr_success"] + row["fcr_failure"]
    return row


def trend(now: dict[str, Any], before: dict[str, Any]) -> dict[str, float | None]:
    """Change of each headline figure against the previous period; None where either is masked."""
    out: dict[str, float | None] = {}
    for name in HEADLINE:
        a, b = now.get(name), before.get(name)
        hidden = name in now.get("masked", ()) or name in before.get("masked", ())
        out[name] = None if a is None or b is None or hidden else round(float(a) - float(b), 4)
    return out


def weekly(db: Database, start_s: int, end_s: int, min_n: int, as_of_s: int) -> list[dict[str, Any]]:
    """CSAT % and NPS per 7-day step of the window (``cxpulse metrics`` over each week)."""
    step, out = 7 * 86_400, []
    for week_start in range(start_s, end_s, step):
        row = headline(db, week_start, min(week_start + step, end_s), min_n, as_of_s)
        out.append(
            {
                "start": week_start,
                **{k: row.get(k) for k in ("csat_pct", "nps", "csat_responses", "nps_responses")},
                "masked": row.get("masked", ["csat_pct", "nps"]),
            }
        )
    return out


def fixes_of(
    db: Database, start_s: int, end_s: int, min_n: int, window_s: int, settle_s: int, as_of_s: int
) -> list[dict[str, Any]]:
    """Fixes that took effect in the window, each with its comparison (``cxpulse fixes compare``)."""
    from sql import fixes

    out = []
    for fix in fixes.list_fixes(db):
        if start_s <= fix.at < end_s:
            results = fixes.compare_fix(db, fix, window_s, settle_s, min_n, as_of_s)
            out.append(
                {
                    "fix": asdict(fix),
                    "scope": fix.scope_text(),
                    "figures": [asdict(r) for r in results],
                    "verdict": fixes.overall([r.verdict for r in results]),
                }
            )
    return out


def voice(db: Database, start_s: int, end_s: int, min_n: int, models: Path) -> dict[str, Any]:
    """What customers said: ranked terms by touchpoint, emerging terms, examples, the sentiment model."""
    from sql.voc import emerging, latest_comments, ranked_terms, sentiment_counts
    from voc.sentiment import load_active

    active = load_active(models)
    return {
        "terms": ranked_terms(db, start_s, end_s, "touchpoint", min_n, top=5),
        "overall": ranked_terms(db, start_s, end_s, "total", min_n, top=10),
        "emerging": emerging(db, end_s, min_n, top=10),
        "latest": latest_comments(db, start_s, end_s, ["unhappy"], 8),
        "sentiment": sentiment_counts(db, start_s, end_s),
        "model": asdict(active[1]) if active else None,
    }


def gather(
    db: Database,
    start_s: int,
    end_s: int,
    *,
    min_n: int,
    assumptions: Assumptions,
    moments_of_truth: list[str],
    fix_window_s: int,
    fix_settle_s: int,
    models: Path,
    as_of_s: int,
) -> dict[str, Any]:
    """Every figure of the report over ``[start_s, end_s)`` and its previous period of equal length."""
    from sql.impact import impact
    from sql.journey import journey

    length = end_s - start_s
    now = headline(db, start_s, end_s, min_n, as_of_s)
    before = headline(db, start_s - length, start_s, min_n, as_of_s)
    return {
        "from": start_s,
        "to": end_s,
        "previous": [start_s - length, start_s],
        "min_n": min_n,
        "as_of": as_of_s,
        "headline": now,
        "previous_headline": before,
        "trend": trend(now, before),
        "weekly": weekly(db, start_s, end_s, min_n, as_of_s),
        "journey": journey(db, start_s, end_s, min_n, moments_of_truth),
        "impact": impact(db, start_s, end_s, "touchpoint", assumptions, min_n),
        "assumptions": assumptions.describe(),
        "fixes": fixes_of(db, start_s, end_s, min_n, fix_window_s, fix_settle_s, as_of_s),
        "voice": voice(db, start_s, end_s, min_n, models),
    }
