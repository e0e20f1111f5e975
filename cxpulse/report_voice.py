"""The report's "What customers said" pages: top terms, emerging terms, their words, sentiment."""

from __future__ import annotations

from html import escape
from typing import Any

from cxpulse import charts
from cxpulse.cx_view import stamp
from cxpulse.report_html import _chart, _table


def _quote(comment: dict[str, Any]) -> str:
    scores = ", ".join(f"{k.upper()} {comment[k]}" for k in ("csat", "nps") if comment.get(k) is not None)
    return f"“{comment['comment']}” ({scores})" if scores else f"“{comment['comment']}”"


def voice_section(data: dict[str, Any]) -> str:
    """Ranked terms overall (chart) and per touchpoint with examples, emerging terms, latest words."""
    voice, min_n = data["voice"], data["min_n"]
    overall = voice["overall"][0]["terms"] if voice["overall"] else []
    parts = ['<h2 class="page">What customers said</h2>']
    if overall:
        chart = charts.bars("Terms unhappy customers use more than happy ones (lift, x)",
                            [t["term"] for t in overall], [t["lift"] for t in overall], unit="x",
                            notes=[f"{t['unhappy_with']} of {voice['overall'][0]['unhappy_comments']} unhappy"
                                   for t in overall], color=charts.RED)
        parts.append(_chart(chart, "top terms"))
    rows = []
    for scope in voice["terms"]:
        for t in scope["terms"][:3]:
            example = _quote(t["examples"][0]) if t["examples"] else ""
            rows.append([scope["touchpoint"] or "(none)", t["term"],
                         f"{t['unhappy_with']} / {scope['unhappy_comments']}",
                         f"{t['happy_with']} / {scope['happy_comments']}", f"{t['lift']:.1f}x", example])
    parts.append(_table(("touchpoint", "term", "unhappy (n)", "happy (n)", "lift", "in their words"), rows,
                        (2, 3, 4)) if rows else f"<p>No term reaches min n ({min_n}) in this period.</p>")
    parts.append(_emerging(voice["emerging"]))
    latest = [[stamp(c["occurred_at_ms"] // 1000), c["touchpoint"], _quote(c)] for c in voice["latest"]]
    parts.append("<h2>Latest unhappy comments</h2>" + _table(("time", "touchpoint", "comment"), latest))
    parts.append(_sentiment(voice))
    return "".join(parts)


def _emerging(result: dict[str, Any]) -> str:
    (r0, r1), (b0, _b1) = result["recent"], result["baseline"]
    head = (f"<h2>Emerging terms</h2><p>{stamp(r0)} .. {stamp(r1)} against the four weeks before "
            f"({stamp(b0)} .. {stamp(r0)}).</p>")
    if not result["terms"]:
        return head + f"<p>No term of the last week reaches min n ({result['min_n']}).</p>"
    terms = result["terms"]
    chart = charts.bars("Emerging terms (growth of their share of comments, x)", [t["term"] for t in terms],
                        [t["growth"] for t in terms], unit="x",
                        notes=[f"{t['recent_with']} this week, {t['baseline_with']} before" for t in terms])
    rows = [[t["term"], f"{t['recent_with']} / {t['recent_comments']}",
             f"{t['baseline_with']} / {t['baseline_comments']}", f"{t['growth']:.1f}x"] for t in terms]
    return head + _chart(chart, "emerging terms") + _table(("term", "this week (n)", "4 weeks before (n)",
                                                             "growth"), rows, (1, 2, 3))


def _sentiment(voice: dict[str, Any]) -> str:
    model, counts = voice["model"], voice["sentiment"]
    if model is None:
        return ("<h2>Comments without a score</h2><p>No sentiment model met the quality threshold, so "
                "comments without a CSAT or NPS are not scored (cxpulse voc train).</p>")
    rows = [[c["sentiment"] or "not scored", c["comments"]] for c in counts]
    return (f"<h2>Comments without a score</h2><p>Predicted by model {escape(model['version'])}: held-out "
            f"accuracy {model['accuracy']:.3f}, macro-F1 {model['macro_f1']:.3f} on {model['held_out_n']} "
            f"comments (majority baseline macro-F1 {model['baseline_macro_f1']:.3f}); used because its "
            f"macro-F1 is at least {model['threshold_macro_f1']:.2f}.</p>"
            + _table(("predicted", "comments"), rows, (1,)))
