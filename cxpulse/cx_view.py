"""Tables of the CX layer's commands: journey map, pain points, fixes, scorecards (rich).

Every ratio shows its n beside it; a ratio whose n is below the configured minimum shows ``n<N``
(the row's ``masked`` list, from ``sql``), a ratio that is undefined shows ``-``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from cxpulse import console
from sql.fixes import FigureComparison, Fix


def stamp(epoch_s: int) -> str:
    """An epoch second as ``2026-11-24 13:42 UTC``."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M UTC")


def shown(row: dict[str, Any], name: str, min_n: int, decimals: int = 1) -> str:
    """A figure as a table shows it: ``n<N`` when masked, ``-`` when undefined."""
    if name in row.get("masked", ()):
        return f"n<{min_n}"
    value = row.get(name)
    return "-" if value is None else f"{value:.{decimals}f}"


def signed(value: float | None, decimals: int = 1) -> str:
    """A change with its sign; ``-`` when undefined."""
    return "-" if value is None else f"{value:+.{decimals}f}"


def _name(value: str) -> str:
    return value if value else "(none)"


JOURNEY_HEAD = ("stage", "touchpoint", "CSAT %", "n", "Δ", "NPS", "n", "Δ", "CES", "n", "Δ", "volume", "Δ",
                "FCR %", "n", "compl %", "n", "MoT")


def journey_table(view: dict[str, Any], min_n: int) -> Table:
    """The journey map: one row per (stage, touchpoint), changes against the previous period."""
    body = []
    for c in view["cells"]:
        change = c["change"]
        mot = "-" if c["mot_score"] is None else f"{c['mot_score']:+.0f}"
        if c["moment_of_truth"]:
            mot = f"* {mot}"
        body.append([
            c["journey_stage"], _name(c["touchpoint"]),
            shown(c, "csat_pct", min_n), c["csat_responses"], signed(change["csat_pct"]),
            shown(c, "nps", min_n), c["nps_responses"], signed(change["nps"]),
            shown(c, "ces_mean", min_n, 2), c["ces_responses"], signed(change["ces_mean"], 2),
            f"{c['events']:,}", signed(change["events"], 0),
            shown(c, "fcr_pct", min_n), c["fcr_success"] + c["fcr_failure"],
            shown(c, "complaint_rate", min_n), c["contacts"], mot])
    return console.table(JOURNEY_HEAD, body, right=JOURNEY_HEAD[2:])


COMPACT_HEAD = ("stage", "touchpoint", "CSAT %", "n", "Δ", "NPS", "n", "volume")


def compact_journey(rows: list[dict[str, Any]], min_n: int) -> Table:
    """The journey map in 80 columns: CSAT % and NPS with n, CSAT change, volume."""
    body = [[c["journey_stage"], _name(c["touchpoint"]), shown(c, "csat_pct", min_n), c["csat_responses"],
             signed(c["change"]["csat_pct"]), shown(c, "nps", min_n), c["nps_responses"], f"{c['events']:,}"]
            for c in rows if c["csat_responses"] or c["nps_responses"]]
    return console.table(COMPACT_HEAD, body, right=COMPACT_HEAD[2:])


def journey_screen(view: dict[str, Any], start_s: int, end_s: int, min_n: int) -> Group:
    """Title, the map, and how to read it."""
    head = Text(f"Journey map {stamp(start_s)} .. {stamp(end_s)} (Δ: against the previous "
                f"{(end_s - start_s) / 86400:g} days)", style="bold")
    note = Text(f"n<{min_n}: fewer than {min_n} answers. MoT: moment-of-truth score, NPS without minus "
                "with a problem there (* = configured moment of truth).")
    return Group(head, journey_table(view, min_n), note)


IMPACT_HEAD = ("rank", "scope", "revenue at risk", "compl. rank", "complaints", "customers", "problem %",
               "complaint %", "silent %", "recovery %", "n", "WOM -", "WOM +")


def impact_table(result: dict[str, Any], keys: tuple[str, ...], min_n: int) -> Table:
    """Pain points ranked by revenue at risk, the complaint-count rank beside it."""
    currency = result["assumptions"]["currency"]
    body = []
    for s in result["scopes"]:
        body.append([
            s["revenue_rank"], " / ".join(_name(s[k]) for k in keys),
            f"{s['revenue_at_risk']:,.0f} {currency}", s["complaint_rank"], s["complaints"],
            s["customers_seen"], shown(s, "problem_rate", min_n), shown(s, "complaint_rate", min_n),
            shown(s, "silent_rate", min_n), shown(s, "recovery_rate", min_n), s["complainants"],
            f"{s['negative_reach']:,}", f"{s['positive_reach']:,}"])
    return console.table(IMPACT_HEAD, body, right=tuple(h for h in IMPACT_HEAD if h != "scope"))


def impact_summary(result: dict[str, Any], assumptions_line: str, min_n: int) -> Text:
    """The window's totals and every value the figures used."""
    t, currency = result["total"], result["assumptions"]["currency"]
    return Text(
        f"Total: {t['customers_seen']:,} customers, problem rate {shown(t, 'problem_rate', min_n)} %, "
        f"complaint rate {shown(t, 'complaint_rate', min_n)} % (silent {shown(t, 'silent_rate', min_n)} %), "
        f"recovery rate {shown(t, 'recovery_rate', min_n)} % of {t['complainants']:,} complainants; "
        f"revenue at risk {t['revenue_at_risk']:,.0f} {currency}; word of mouth: "
        f"{t['negative_reach']:,} people hear of a bad experience, {t['positive_reach']:,} of a good one.\n"
        f"Assumptions: {assumptions_line}; min n {min_n}.")


def fixes_table(fixes: list[Fix], verdicts: dict[str, dict[str, Any]]) -> Table:
    """Recorded fixes, latest first, with the verdict of their latest comparison."""
    body = []
    for fix in fixes:
        stored = verdicts.get(fix.fix_id)
        body.append([fix.fix_id, stamp(fix.at), fix.scope_text(), fix.note,
                     stored["verdict"] if stored else "not compared yet",
                     stamp(stored["compared_at_s"]) if stored else "-"])
    return console.table(("fix", "at", "scope", "note", "verdict", "compared"), body)


COMPARE_HEAD = ("figure", "before", "n", "after", "n", "difference", "95% interval", "p", "test", "verdict")
_TITLES = {"csat_pct": "CSAT %", "nps": "NPS", "ces_mean": "CES mean", "fcr_pct": "FCR %"}


def _value(value: float | None, decimals: int) -> str:
    return "-" if value is None else f"{value:.{decimals}f}"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def compare_table(results: list[FigureComparison]) -> Table:
    """Each figure before and after, with n, difference, interval, p-value, test and verdict."""
    body = []
    for r in results:
        c, decimals = r.comparison, 2 if r.figure == "ces_mean" else 1
        interval = "-" if c.low is None or c.high is None else \
            f"[{c.low:+.{decimals}f}, {c.high:+.{decimals}f}]"
        body.append([_TITLES[r.figure], _value(r.before, decimals), r.before_n, _value(r.after, decimals),
                     r.after_n, signed(c.difference, decimals), interval, _p(c.p_value), c.method,
                     r.verdict])
    return console.table(COMPARE_HEAD, body, right=COMPARE_HEAD[1:8])


SCORE_HEAD = ("rank", "scope", "CSAT %", "95% interval", "n", "NPS", "95% interval", "n", "FCR %", "n",
              "compl %", "n")


def _interval(row: dict[str, Any], name: str, low: str, high: str) -> str:
    if name in row["masked"] or row[low] is None:
        return "-"
    return f"[{row[low]:.1f}, {row[high]:.1f}]"


def scorecard_table(rows: list[dict[str, Any]], by: str, min_n: int) -> Table:
    """Partners or locations, best CSAT % first, with intervals and n."""
    body = [[r["csat_rank"] if r["csat_rank"] is not None else "-", r[by],
             shown(r, "csat_pct", min_n), _interval(r, "csat_pct", "csat_low", "csat_high"),
             r["csat_responses"], shown(r, "nps", min_n), _interval(r, "nps", "nps_low", "nps_high"),
             r["nps_responses"], shown(r, "fcr_pct", min_n), r["fcr_decided"],
             shown(r, "complaint_rate", min_n), r["contacts"]] for r in rows]
    return console.table(SCORE_HEAD, body, right=tuple(h for h in SCORE_HEAD if h != "scope"))
