"""Push the data sources, the folder and every board to a Grafana server by its HTTP API (grafana-client).

``cxpulse dashboards push --url URL --token-file F [--folder cxpulse]``. Idempotent: each object is
read first and written only when it is missing or differs from ours, so a second push writes
nothing. Boards go to ``POST /api/dashboards/db`` with ``overwrite: true`` and the folder's uid; each
board carries its alert annotations (the ``alerts`` table's transitions, ``dashboards/alerts.py``).
Data sources keep the fixed uids the boards refer to. A data source password is write-only in
Grafana, so it is sent when the data source is created, or when given again (``--clickhouse-password-file``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError

from dashboards.build import BOARDS

JSON = dict[str, Any]
CLICKHOUSE_UID = "cxpulse-clickhouse"
PROMETHEUS_UID = "cxpulse-prometheus"
"""The data sources' uids: every board refers to them (dashboards/provisioning/datasources.yaml)."""


@dataclass(frozen=True)
class Target:
    """Where the boards' data live, as Grafana must reach them."""

    clickhouse_host: str
    clickhouse_port: int
    clickhouse_user: str
    boards_database: str
    prometheus_url: str
    clickhouse_password: str | None = None
    """Sent on create, or on every push when given; None: keep Grafana's."""


@dataclass
class PushReport:
    """What a push changed: ``(kind, uid)`` per object created or updated."""

    created: list[tuple[str, str]] = field(default_factory=list)
    updated: list[tuple[str, str]] = field(default_factory=list)
    unchanged: list[tuple[str, str]] = field(default_factory=list)


def data_sources(target: Target) -> list[JSON]:
    """The two data sources, as Grafana's ``/api/datasources`` takes them."""
    return [
        {"uid": CLICKHOUSE_UID, "name": "cxpulse ClickHouse", "type": "grafana-clickhouse-datasource",
         "access": "proxy", "isDefault": True,
         "jsonData": {"host": target.clickhouse_host, "port": target.clickhouse_port,
                      "protocol": "native", "secure": False, "username": target.clickhouse_user,
                      "defaultDatabase": target.boards_database}},
        {"uid": PROMETHEUS_UID, "name": "cxpulse Prometheus", "type": "prometheus", "access": "proxy",
         "isDefault": False, "url": target.prometheus_url,
         "jsonData": {"httpMethod": "POST", "timeInterval": "15s"}},
    ]


def _get(call: Callable[[], Any]) -> Any:
    """The object, or None when Grafana answers 404."""
    try:
        return call()
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise


def _differs(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> bool:
    """Whether any field we set has another value there (fields Grafana adds are ignored)."""
    return any(json.dumps(v, sort_keys=True) != json.dumps(theirs.get(k), sort_keys=True)
               for k, v in ours.items())


def push_folder(api: GrafanaApi, uid: str, title: str, report: PushReport) -> None:
    """The folder the boards go into (created once; its title kept in step)."""
    found = _get(lambda: api.folder.get_folder(uid))
    if found is None:
        api.folder.create_folder(title, uid=uid)
        report.created.append(("folder", uid))
    elif found.get("title") != title:
        api.folder.update_folder(uid, title=title, overwrite=True)
        report.updated.append(("folder", uid))
    else:
        report.unchanged.append(("folder", uid))


def push_data_source(api: GrafanaApi, ours: JSON, password: str | None, report: PushReport) -> None:
    """Create, update or leave one data source (by uid)."""
    body = dict(ours)
    if password is not None and ours["type"] == "grafana-clickhouse-datasource":
        body["secureJsonData"] = {"password": password}
    found = _get(lambda: api.datasource.get_datasource_by_uid(ours["uid"]))
    if found is None:
        api.datasource.create_datasource(body)
        report.created.append(("datasource", ours["uid"]))
    elif _differs(ours, found) or "secureJsonData" in body:
        api.datasource.update_datasource_by_uid(ours["uid"], body)
        report.updated.append(("datasource", ours["uid"]))
    else:
        report.unchanged.append(("datasource", ours["uid"]))


def push_board(api: GrafanaApi, board: JSON, folder_uid: str, report: PushReport) -> None:
    """Save one board in the folder unless Grafana holds it already, as it is."""
    found = _get(lambda: api.dashboard.get_dashboard(board["uid"]))
    if found is not None:
        # Grafana numbers each save (id, version): not ours to compare
        ours = {k: v for k, v in board.items() if k not in ("id", "version")}
        if not _differs(ours, found["dashboard"]) and found.get("meta", {}).get("folderUid") == folder_uid:
            report.unchanged.append(("dashboard", board["uid"]))
            return
    api.dashboard.update_dashboard({"dashboard": {**board, "id": None}, "folderUid": folder_uid,
                                    "overwrite": True, "message": "cxpulse dashboards push"})
    (report.created if found is None else report.updated).append(("dashboard", board["uid"]))


def push(api: GrafanaApi, target: Target, folder: str) -> PushReport:
    """Folder, data sources, then every board of ``dashboards.build.BOARDS``."""
    report = PushReport()
    push_folder(api, folder, folder, report)
    for source in data_sources(target):
        push_data_source(api, source, target.clickhouse_password, report)
    for build in BOARDS.values():
        push_board(api, build(), folder, report)
    return report


def connect(url: str, token: str, timeout: float = 10.0) -> GrafanaApi:
    """A client of the Grafana at ``url`` with a service-account token."""
    return GrafanaApi.from_url(url, credential=token, timeout=timeout)
