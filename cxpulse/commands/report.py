"""``cxpulse report --quarter 2026Q4 [--format html|pdf] --out FILE`` (or ``--from/--to``).

The quarterly voice-of-the-customer report: headline CSAT, NPS, CES and FCR with the change against
the previous period, the journey map, pain points by revenue at risk, the fixes of the quarter, what
customers said, the rates and word of mouth. Figures from ``cxpulse/report.py`` (the commands' own
functions), page from ``cxpulse/report_html.py``; PDF by WeasyPrint.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cxpulse import wiring
from cxpulse.settings import Settings
from cxpulse.timeparse import parse_duration, parse_time


def render(settings: Settings, start_s: int, end_s: int, title: str, out: Path, fmt: str) -> Path:
    """Gather, lay out and write the report; returns the file written."""
    from cxpulse.commands.voc import refresh_index
    from cxpulse.report import gather
    from cxpulse.report_html import page
    from cxpulse.report_voice import voice_section

    db = wiring.database(settings)
    try:
        refresh_index(db, settings)
        data = gather(db, start_s, end_s, min_n=settings.min_n, assumptions=wiring.assumptions(settings),
                      moments_of_truth=[t.strip() for t in settings.moments_of_truth.split(",") if t.strip()],
                      fix_window_s=int(parse_duration(settings.fix_window)),
                      fix_settle_s=int(parse_duration(settings.fix_settle)), models=settings.voc_models_path,
                      as_of_s=int(time.time()))
    finally:
        db.close()
    html = page(data, title, voice_section(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "pdf":
        from weasyprint import HTML

        HTML(string=html).write_pdf(out)
    else:
        out.write_text(html, encoding="utf-8")
    return out


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """Write the report for a quarter or a window."""
    from cxpulse.report import quarter_window

    if args.quarter:
        start, end = quarter_window(args.quarter)
        title = f"Voice of the customer, {args.quarter.upper()}"
    elif args.start:
        start, end = parse_time(args.start), parse_time(args.end)
        title = "Voice of the customer"
    else:
        raise ValueError("give --quarter 2026Q4, or --from and --to")
    if start >= end:
        raise ValueError("--from must be before --to")
    fmt = args.format or ("pdf" if args.out.suffix.lower() == ".pdf" else "html")
    written = render(settings, start, end, title, args.out, fmt)
    print(f"wrote {written} ({fmt})")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``report``."""
    p = commands.add_parser("report", help="the quarterly voice-of-the-customer report (HTML or PDF)")
    p.add_argument("--quarter", default="", help="e.g. 2026Q4")
    p.add_argument("--from", dest="start", default="", help="instead of --quarter: event-time start")
    p.add_argument("--to", dest="end", default="now", help="with --from: end, exclusive (default now)")
    p.add_argument("--format", choices=["html", "pdf"], default="", help="default: from --out's suffix")
    p.add_argument("--out", type=Path, required=True, help="file to write")
    p.set_defaults(func=cmd_report)
