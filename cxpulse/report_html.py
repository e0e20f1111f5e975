"""The quarterly report as one HTML page (charts inline) and as PDF (WeasyPrint, a real HTML engine).

Numbers are formatted by the command line's own helpers (``cx_view.shown``: ``n<N`` when masked,
``-`` when undefined), so a figure reads the same in the report and in the terminal. The figures
themselves travel in the page too (``<script id="report-data" type="application/json">``), so a
test can hold each one against what the CLI prints.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any, Final

from cxpulse import charts
from cxpulse.cx_view import shown, signed, stamp

TITLES: Final = {"csat_pct": "CSAT %", "nps": "NPS", "ces_mean": "CES (1-7)", "fcr_pct": "FCR %"}
CSS: Final = """
@page { size: A4; margin: 14mm 12mm; @bottom-right { content: counter(page) " / " counter(pages);
  font-size: 8pt; color: #777; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 9pt; color: #222; }
h1 { font-size: 17pt; margin: 0 0 2mm; } h2 { font-size: 12.5pt; margin: 6mm 0 2mm; color: #1d4f80; }
h2.page { break-before: page; } p.note { color: #666; font-size: 7.5pt; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0; font-size: 7.6pt; }
th, td { border-bottom: 1px solid #ddd; padding: 1.2mm 1.5mm; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; white-space: nowrap; } img.chart { width: 100%; margin: 2mm 0; }
.cards { display: flex; gap: 3mm; }
.card { flex: 1; border: 1px solid #ccd; border-radius: 2mm; padding: 2.5mm; }
.card b { font-size: 15pt; display: block; } .quote { font-style: italic; }
"""


def _chart(svg: str, name: str) -> str:
    data = base64.b64encode(svg.encode()).decode()
    return (f'<img class="chart" data-chart="{escape(name)}" alt="{escape(name)}" '
            f'src="data:image/svg+xml;base64,{data}">')


def _table(head: Sequence[str], rows: Sequence[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    cells = "".join(f'<th class="{"n" if i in numeric else ""}">{escape(h)}</th>' for i, h in enumerate(head))
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"n" if i in numeric else ""}">{escape(str(c))}</td>' for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


def _value(value: float | None) -> float | None:
    return None if value is None else float(value)


def headline_section(data: dict[str, Any]) -> str:
    """The four headline figures with n and their change against the previous period."""
    now, before, min_n = data["headline"], data["previous_headline"], data["min_n"]
    from cxpulse.report import HEADLINE_N

    cards = []
    for name, title in TITLES.items():
        decimals = 2 if name == "ces_mean" else 1
        value = shown(now, name, min_n, decimals) if now else "-"
        change = signed(data["trend"][name], decimals)
        cards.append(
            f'<div class="card">{escape(title)}<b>{escape(value)}</b>n = {now.get(HEADLINE_N[name], 0):,}'
            f"<br>previous quarter {escape(shown(before, name, min_n, decimals) if before else '-')}, "
            f"change {escape(change)}</div>"
        )
    weeks = data["weekly"]
    chart = charts.lines(
        "CSAT % and NPS per week",
        [stamp(w["start"])[:10] for w in weeks],
        {
            "CSAT %": [None if "csat_pct" in w["masked"] else _value(w["csat_pct"]) for w in weeks],
            "NPS": [None if "nps" in w["masked"] else _value(w["nps"]) for w in weeks],
        },
    )
    return (
        f'<h2>Headline</h2><div class="cards">{"".join(cards)}</div>{_chart(chart, "weekly trend")}'
        f'<p class="note">Previous quarter: {stamp(data["previous"][0])} .. {stamp(data["previous"][1])}. '
        f"Weeks with fewer than {min_n} answers are not drawn.</p>"
    )


def journey_section(data: dict[str, Any]) -> str:
    """The journey map: a chart of CSAT % per cell and the table of every figure with n."""
    min_n, cells = data["min_n"], data["journey"]["cells"]
    labels = [f"{c['journey_stage']} / {c['touchpoint'] or '(none)'}" for c in cells]
    values = [None if "csat_pct" in c["masked"] else _value(c["csat_pct"]) for c in cells]
    chart = charts.bars(
        "CSAT % by journey stage and touchpoint",
        labels,
        values,
        unit=" %",
        notes=[f"n={c['csat_responses']:,}" for c in cells],
    )
    rows = [
        [
            label,
            shown(c, "csat_pct", min_n),
            c["csat_responses"],
            shown(c, "nps", min_n),
            c["nps_responses"],
            shown(c, "ces_mean", min_n, 2),
            c["ces_responses"],
            shown(c, "fcr_pct", min_n),
            c["fcr_success"] + c["fcr_failure"],
            "-" if c["mot_score"] is None else f"{c['mot_score']:+.0f}",
        ]
        for label, c in zip(labels, cells, strict=True)
    ]
    head = ("stage / touchpoint", "CSAT %", "n", "NPS", "n", "CES", "n", "FCR %", "n", "MoT")
    return (
        f'<h2 class="page">The journey map</h2>{_chart(chart, "journey map")}'
        f"{_table(head, rows, range(1, 10))}"
        '<p class="note">MoT: NPS of customers without a problem at the touchpoint minus NPS of those '
        "with one (moment-of-truth score).</p>"
    )


def pain_section(data: dict[str, Any]) -> str:
    """Pain points ranked by revenue at risk; the window's problem, complaint and recovery rates."""
    result, min_n = data["impact"], data["min_n"]
    currency, scopes, total = result["assumptions"]["currency"], result["scopes"], result["total"]
    chart = charts.bars(
        f"Revenue at risk by touchpoint ({currency})",
        [s["touchpoint"] or "(none)" for s in scopes],
        [float(s["revenue_at_risk"]) for s in scopes],
        decimals=0,
        color=charts.RED,
        notes=[f"complaint rank {s['complaint_rank']}" for s in scopes],
    )
    rows = [
        [
            s["revenue_rank"],
            s["touchpoint"] or "(none)",
            f"{s['revenue_at_risk']:,.0f} {currency}",
            s["complaint_rank"],
            s["complaints"],
            s["customers_seen"],
            shown(s, "problem_rate", min_n),
            shown(s, "complaint_rate", min_n),
            shown(s, "recovery_rate", min_n),
            s["complainants"],
            f"{s['negative_reach']:,}",
            f"{s['positive_reach']:,}",
        ]
        for s in scopes
    ]
    head = (
        "rank",
        "touchpoint",
        "revenue at risk",
        "compl. rank",
        "complaints",
        "customers",
        "problem %",
        "complaint %",
        "recovery %",
        "n",
        "WOM -",
        "WOM +",
    )
    rates = _table(
        ("figure", "value", "n"),
        [
            ["problem rate %", shown(total, "problem_rate", min_n), total["customers_seen"]],
            [
                "complaint rate % (of customers with a problem)",
                shown(total, "complaint_rate", min_n),
                total["customers_with_problem"],
            ],
            [
                "recovery rate % (of complainants)",
                shown(total, "recovery_rate", min_n),
                total["complainants"],
            ],
            [
                "revenue at risk",
                f"{total['revenue_at_risk']:,.0f} {currency}",
                total["unrecovered_customers"],
            ],
            [
                "word of mouth: people who hear of a bad experience",
                f"{total['negative_reach']:,}",
                total["unrecovered_customers"],
            ],
            [
                "word of mouth: people who hear of a good one",
                f"{total['positive_reach']:,}",
                total["positive_customers"],
            ],
        ],
        (1, 2),
    )
    return (
        f'<h2 class="page">Pain points, by revenue at risk</h2>{_chart(chart, "pain points")}'
        f"{_table(head, rows, (0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11))}"
        f"<h2>Problem, complaint and recovery rates; word of mouth</h2>{rates}"
        f'<p class="note">Assumptions: {escape(data["assumptions"])}; min n {min_n}.</p>'
    )


def fixes_section(data: dict[str, Any]) -> str:
    """The fixes of the quarter and their before/after verdicts."""
    if not data["fixes"]:
        return "<h2>Fixes of the quarter</h2><p>No fix was recorded in this period.</p>"
    rows = []
    for f in data["fixes"]:
        parts = [f"{TITLES[r['figure']]}: {r['verdict']}" for r in f["figures"]]
        rows.append(
            [
                f["fix"]["fix_id"],
                stamp(f["fix"]["at"]),
                f["scope"],
                f["fix"]["note"],
                f["verdict"],
                "; ".join(parts),
            ]
        )
    chart = charts.bars(
        "CSAT % after - before, per fix (points)",
        [f["fix"]["note"] or f["scope"] for f in data["fixes"]],
        [_difference(f, "csat_pct") for f in data["fixes"]],
        notes=[f["verdict"] for f in data["fixes"]],
        color="#5b9a4b",
    )
    return (
        f"<h2>Fixes of the quarter</h2>{_chart(chart, 'fixes')}"
        f"{_table(('fix', 'at', 'scope', 'note', 'verdict', 'per figure'), rows)}"
    )


def _difference(fix: dict[str, Any], figure: str) -> float | None:
    for r in fix["figures"]:
        if r["figure"] == figure and r["verdict"] != "not enough data":
            return _value(r["comparison"]["difference"])
    return None


def page(data: dict[str, Any], title: str, voice_html: str) -> str:
    """The whole report as a self-contained HTML document."""
    generated = datetime.fromtimestamp(data["as_of"], UTC).strftime("%Y-%m-%d %H:%M UTC")
    payload = json.dumps(data, ensure_ascii=False, default=str).replace("</", "<\\/")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body><h1>{escape(title)}</h1>"
        f"<p>{stamp(data['from'])} .. {stamp(data['to'])} (event time); generated {generated}. Every "
        f"percentage has its n beside it; below {data['min_n']} answers a figure shows as "
        f"n&lt;{data['min_n']}.</p>"
        f"{headline_section(data)}{journey_section(data)}{pain_section(data)}{fixes_section(data)}"
        f"{voice_html}"
        f'<script type="application/json" id="report-data">{payload}</script></body></html>'
    )
