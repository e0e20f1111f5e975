"""``cxpulse demo`` (``make demo``): the stack, some history, live traffic, and ``cxpulse top``.

The history is the simulator's ``fix`` scenario: web order status gets better half-way through it.
The demo records that fix (``cxpulse fixes add``), compares before and after (``fixes compare``)
and opens ``cxpulse top --journey``: the figures per channel, the journey map and the alerts.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from connectors.sdk.runtime import ConnectorRuntime, InMemoryCursorStore
from connectors.simulator.connector import SimulatorConfig, SimulatorConnector
from cxpulse import console, stack, wiring
from cxpulse.settings import Settings


def history(settings: Settings, now_ms: int, seed: int | None = None) -> SimulatorConfig:
    """The demo's history: the last ``demo_backfill_hours`` of the ``fix`` scenario, received by now."""
    hours = settings.demo_backfill_hours
    return SimulatorConfig(
        scenario="fix", seed=now_ms // 3_600_000 if seed is None else seed,
        start_ms=now_ms - int(hours * 3_600_000), duration_s=hours * 3600, rate=settings.demo_rate / 4,
        realtime=False, received_before_ms=now_ms)


def backfill(settings: Settings) -> int | None:
    """Publish the last ``demo_backfill_hours`` of simulated history, so every window has data.

    Through the simulator connector in the runtime, as fast as it goes; stops at now. The history
    is the ``fix`` scenario (:func:`history`); returns its start (epoch ms), or None without history.
    """
    if settings.demo_backfill_hours <= 0:
        return None
    config = history(settings, int(time.time() * 1000))
    connector = SimulatorConnector(config)
    runtime = ConnectorRuntime(connector, wiring.publisher(settings, connector.name))
    with console.progress(f"  history: {settings.demo_backfill_hours:g} h of simulated events",
                          unit="events") as tracker:
        runtime.run_pull(InMemoryCursorStore(), batch_size=10_000, on_record=tracker.advance)
    console.stdout.print(f"  history: {runtime.summary.line()}")
    return config.start_ms


def record_fix(settings: Settings, start_ms: int) -> None:
    """Record the history's fix and show its before/after comparison (what ``fixes compare`` prints)."""
    from connectors.simulator import fix_time
    from connectors.simulator.scenarios import FIXED_TOUCHPOINT
    from cxpulse import cx_view
    from sql import fixes

    span_s = int(settings.demo_backfill_hours * 3600)
    at_s = fix_time(start_ms, span_s) // 1000
    db = wiring.database(settings)
    try:
        fix = fixes.add_fix(db, {"channel": FIXED_TOUCHPOINT[0], "touchpoint": FIXED_TOUCHPOINT[1]}, at_s,
                            "order status page shows the courier's live position")
        window_s = span_s // 2
        results = fixes.compare_fix(db, fix, window_s, 0, settings.min_n)
        fixes.store_comparisons(db, fix, results, window_s, 0)
    finally:
        db.close()
    console.stdout.print(f"  fix: recorded {fix.fix_id} ({fix.scope_text()} at {cx_view.stamp(at_s)}); "
                         f"before/after, {window_s / 3600:g} h each side:", markup=False)
    console.show(cx_view.compare_table(results))
    console.stdout.print(f"  verdict: {fixes.overall([r.verdict for r in results])} "
                         f"(`cxpulse fixes compare {fix.fix_id} --window {window_s // 60}m`)", markup=False)


def demo_ingest(settings: Settings, progress: Callable[[str], None] = console.stdout.print) -> None:
    """Show the ingest API working: a few signed widget answers posted by a demo back-end key."""
    from connectors.ingest.client import IngestClient
    from connectors.ingest.keys import KeyStore

    store = KeyStore(settings.ingest_keys_path, wiring.master_key(settings))
    key = next((k for k in store.all() if k.source == "demo-web" and k.kind == "server"), None)
    if key is None:
        key, _ = store.add("server", "demo-web")
    secret = store.secret_of(key)
    if secret is None:
        raise ValueError(f"demo key {key.key_id} does not match the ingest master key: revoke it")
    rng = random.Random()
    answers = [{"id": str(uuid.uuid4()), "touchpoint": "checkout", "scale": "smiley",
                "score": rng.choice([2, 3, 4, 4]), "lang": "vi"} for _ in range(5)]
    answer = IngestClient(f"http://127.0.0.1:{settings.ingest_port}", key.key_id, secret).post(
        "/v1/surveys/web", answers)
    if answer.status != 200:
        raise ValueError(f"ingest API answered {answer.status}: {answer.body}")
    progress(f"  ingest API: 5 signed widget answers posted -> accepted {answer.body['accepted']} "
             f"(http://127.0.0.1:{settings.ingest_port}/openapi.json)")




def voice_of_customer(settings: Settings) -> Path:
    """Index the history's comments, train the sentiment model, write a fresh report; its path."""
    from cxpulse.commands.report import render
    from sql.voc import training_examples
    from voc.sentiment import LABEL_OF_VOICE, save, train

    end = int(time.time())
    start = end - int(settings.demo_backfill_hours * 3600) - 3600
    db = wiring.database(settings)
    try:
        from cxpulse.commands.voc import refresh_index

        refresh_index(db, settings, quiet=False)
        examples = [(i, t, LABEL_OF_VOICE[v]) for i, t, v in training_examples(db, start, end)]
        try:
            model, evaluation = train(examples)
            save(settings.voc_models_path, model, evaluation)
            console.stdout.print(f"  sentiment {evaluation.describe()}", markup=False)
        except ValueError as exc:  # a tiny history may lack a class: the report says no model is used
            console.stdout.print(f"  sentiment: not trained ({exc})", markup=False)
    finally:
        db.close()
    return render(settings, start, end, "Voice of the customer (demo history)",
                  settings.run_path / "reports" / "voc-report.html", "html")


def board_pictures(settings: Settings) -> Path:
    """Every board drawn from the demo's history (``cxpulse dashboards render``); their folder."""
    from cxpulse.board_render import render
    from dashboards.macros import TimeRange

    end = int(time.time())
    folder = settings.run_path / "boards"
    db = wiring.database(settings)
    try:
        drawn = render(db, [], TimeRange(end - int(settings.demo_backfill_hours * 3600) - 3600, end),
                       folder)
    finally:
        db.close()
    failed = sum(1 for _path, results in drawn for r in results if r.error)
    console.stdout.print(f"  boards     {len(drawn)} drawn from live data in {folder}"
                         + (f" ({failed} panel(s) failed)" if failed else ""), markup=False)
    return folder


def where_things_are(settings: Settings, report: Path | None = None, boards: Path | None = None
                     ) -> str:
    """The demo's map of the stack: folders, ports, and what to watch."""
    return (
        "\nWhere things are:\n"
        f"  data and logs   {settings.run_path}\n"
        f"  ClickHouse      clickhouse-client --port {settings.clickhouse_port} "
        f"-d {settings.clickhouse_database}\n"
        f"  Prometheus      http://127.0.0.1:{settings.prometheus_port}\n"
        f"  Alertmanager    http://127.0.0.1:{settings.alertmanager_port}\n"
        f"  alerts received tail -f {settings.run_path / 'alerts' / 'webhook.jsonl'}\n"
        f"  worker metrics  http://127.0.0.1:{settings.worker_port}/metrics\n"
        f"  ingest API      http://127.0.0.1:{settings.ingest_port}/openapi.json "
        "(keys: .venv/bin/cxpulse ingest keys add --help)\n"
        "  figures         .venv/bin/cxpulse metrics --by channel --from now-1h\n"
        "  CX layer        .venv/bin/cxpulse journey | impact | scorecard | fixes list\n"
        "  VOC board       dashboards/generated/voice_of_customer.json (Grafana; no Grafana here: "
        ".venv/bin/cxpulse voc terms | emerging | search \"giao hàng chậm\" -i)\n"
        + (f"  VOC report      {report} (fresh; PDF: .venv/bin/cxpulse report --from -7h --out r.pdf)\n"
           if report else "")
        + (f"  board pictures  {boards} (no Grafana here: .venv/bin/cxpulse dashboards render)\n"
           if boards else "") +
        "The simulator's incident (CSAT -25 points on web/checkout and one kiosk) starts 5 minutes\n"
        "after it and lasts 15: watch the alert fire, reach the webhook, and resolve.\n"
        "Stop everything with `make down`. Live view in 5 s (Ctrl-C leaves it; the stack keeps running).\n"
    )


def cmd_demo(_args: argparse.Namespace, settings: Settings) -> int:
    """Bring everything up, then show the live view until Ctrl-C. The stack keeps running."""
    from cxpulse.top import run_top

    console.stdout.print(f"cxpulse demo: starting the local stack in {settings.run_path}")
    stack.up(settings)
    start_ms = backfill(settings)
    with console.progress("  worker: storing the history", unit="events stored") as tracker:
        wiring.drain(settings, timeout=900, progress=tracker.remaining)
    if start_ms is not None:
        record_fix(settings, start_ms)
    report = voice_of_customer(settings)
    boards = board_pictures(settings)
    demo_ingest(settings)
    stack.start_component(settings, "simulator", health=False)
    console.stdout.print(f"  simulator  sending ~{settings.demo_rate:g} events/s (log: "
                         f"{settings.run_path / 'logs' / 'simulator.log'})")
    console.stdout.print(where_things_are(settings, report, boards), markup=False)
    time.sleep(5)
    code = run_top(lambda: wiring.database(settings), 2.0, once=False,
                   webhook_log=settings.run_path / "alerts" / "webhook.jsonl", min_n=settings.min_n,
                   journey=True)
    console.stdout.print("\nThe stack is still running: `make down` stops it.")
    return code


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``demo``."""
    p = commands.add_parser("demo", help="the stack, history, live traffic and the live view (make demo)")
    p.set_defaults(func=cmd_demo)
