"""The local stack's Alertmanager webhook receiver: every notification becomes one line of a file.

Every Alertmanager route of the local stack ends here (one URL path per receiver), so a delivered
alert can be watched (``tail -f <run_dir>/alerts/webhook.jsonl``) and asserted on by tests.
Run as ``python -m cxpulse.webhook --port P --out FILE`` (the stack's supervisord does).

Guarantees: each notification that gets a 200 reply has been appended to the file as one complete
JSON line (Alertmanager's payload, unchanged) and flushed; Alertmanager retries a notification that
got no 2xx, so a line may repeat but is never lost. A body that is not a JSON object gets 400 and is
logged, not written. Endpoints: ``POST /<receiver>``, ``GET /health``, ``GET /metrics``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

log = logging.getLogger("cxpulse.webhook")

MAX_BODY_BYTES = 16 * 1024 * 1024
"""Alertmanager batches a group's alerts into one notification; far above any real group."""
SUMMARY_LABELS = ("severity", "channel", "scope_kind", "scope", "metric", "location", "cause")
"""Labels shown in the one-line log summary, when present (alert labels carry no PII)."""
SUMMARY_MAX_ALERTS = 3

METRICS = CollectorRegistry()
"""The receiver's own registry: importing this module (``cxpulse.stack`` does) adds nothing to the
importing process's default registry."""
NOTIFICATIONS = Counter("cxpulse_webhook_notifications_total",
                        "Alertmanager notifications written to the file", ["receiver", "status"],
                        registry=METRICS)
REJECTED = Counter("cxpulse_webhook_rejected_total", "Requests refused (not a JSON object, too big)",
                   registry=METRICS)


def notifications_file(run_dir: Path) -> Path:
    """Where the stack's webhook writes: ``<run_dir>/alerts/webhook.jsonl``."""
    return run_dir / "alerts" / "webhook.jsonl"


def summarize(notification: dict[str, Any]) -> str:
    """One log line for a notification: receiver, status, count and the first alerts' key labels."""
    alerts = notification.get("alerts")
    alerts = [a for a in alerts if isinstance(a, dict)] if isinstance(alerts, list) else []
    shown = []
    for alert in alerts[:SUMMARY_MAX_ALERTS]:
        labels = alert.get("labels")
        labels = labels if isinstance(labels, dict) else {}
        keys = ",".join(f"{k}={labels[k]}" for k in SUMMARY_LABELS if labels.get(k))
        shown.append(f"{labels.get('alertname', '?')}[{alert.get('status', '?')}]{{{keys}}}")
    more = f" +{len(alerts) - SUMMARY_MAX_ALERTS} more" if len(alerts) > SUMMARY_MAX_ALERTS else ""
    return (f"notification receiver={notification.get('receiver', '?')} "
            f"status={notification.get('status', '?')} alerts={len(alerts)}: "
            f"{' '.join(shown)}{more}")


class NotificationLog:
    """Appends notifications to a JSON-lines file, one whole line per notification, thread-safe."""

    def __init__(self, path: Path) -> None:
        """Create the file's folder; the file is appended to, never truncated."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.count = 0

    def append(self, notification: dict[str, Any]) -> None:
        """Write one line and flush it before returning."""
        line = json.dumps(notification, separators=(",", ":"), ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line)
            out.flush()
            self.count += 1


def _handler(store: NotificationLog) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                REJECTED.inc()
                log.warning("refused a %d-byte body on %s", length, self.path)
                self._reply(413, {"error": "body too large"})
                return
            try:
                notification = json.loads(self.rfile.read(length))
            except ValueError as exc:
                notification, error = None, str(exc)
            else:
                error = "" if isinstance(notification, dict) else "not a JSON object"
            if not isinstance(notification, dict):
                REJECTED.inc()
                log.warning("refused a body on %s: %s", self.path, error)
                self._reply(400, {"error": error})
                return
            store.append(notification)
            NOTIFICATIONS.labels(str(notification.get("receiver", "")),
                                 str(notification.get("status", ""))).inc()
            log.info("%s (path %s)", summarize(notification), self.path)
            self._reply(200, {"ok": True})

        def do_GET(self) -> None:
            if self.path == "/health":
                self._reply(200, {"ok": True, "notifications": store.count, "file": str(store.path)})
            elif self.path == "/metrics":
                self._send(200, generate_latest(METRICS), CONTENT_TYPE_LATEST)
            else:
                self._reply(404, {"error": "not found"})

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # Health probes and scrapes would flood the log: notifications are logged above.
            pass

    return Handler


def serve(host: str, port: int, out: Path) -> ThreadingHTTPServer:
    """A bound server writing to ``out`` (call ``serve_forever``); requests finish before close."""
    server = ThreadingHTTPServer((host, port), _handler(NotificationLog(out)))
    server.daemon_threads = False  # server_close() waits for in-flight writes
    return server


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m cxpulse.webhook", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="JSON-lines file to append to")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    server = serve(args.host, args.port, args.out)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    log.info("listening on http://%s:%d, writing %s", args.host, args.port, args.out)
    try:
        server.serve_forever()
    except (SystemExit, KeyboardInterrupt):
        log.info("stopping")
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
