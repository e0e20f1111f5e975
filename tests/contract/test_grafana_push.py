"""`cxpulse dashboards push` against a CONTRACT TEST SERVER, NOT GRAFANA.

No Grafana can run on these machines. This small HTTP server checks each request against Grafana's
documented HTTP API (folders: ``GET/POST /api/folders``; data sources: ``GET /api/datasources/uid/:uid``,
``POST /api/datasources``, ``PUT /api/datasources/uid/:uid``; dashboards: ``GET /api/dashboards/uid/:uid``,
``POST /api/dashboards/db`` with ``dashboard``, ``folderUid``, ``overwrite``): the path, the method,
the bearer token, the JSON body's required fields. It keeps what was written and answers reads
from it as Grafana would (404 for a missing object), so a second push can be seen to write nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dashboards.build import BOARDS

TOKEN = "glsa_contract_test_token"
PROVISIONING = Path(__file__).resolve().parents[2] / "dashboards/provisioning/datasources.yaml"


class FakeGrafanaState:
    def __init__(self) -> None:
        self.folders: dict[str, dict[str, Any]] = {}
        self.datasources: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, str, dict[str, Any]]] = []
        self.violations: list[str] = []


def handler(state: FakeGrafanaState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict[str, Any]:
            if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
                state.violations.append(f"{self.command} {self.path}: body not application/json")
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body: dict[str, Any] = json.loads(raw)
            state.writes.append((self.command, self.path, body))
            return body

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(401, {"message": "Unauthorized"})
                return False
            return True

        def _require(self, body: dict[str, Any], *fields: str) -> bool:
            missing = [f for f in fields if f not in body]
            if missing:
                state.violations.append(f"{self.command} {self.path}: missing {missing}")
                self._answer(400, {"message": f"missing {missing}"})
            return not missing

        def do_GET(self) -> None:
            if not self._authorised():
                return
            for pattern, store in ((r"/api/folders/([\w-]+)$", state.folders),
                                   (r"/api/datasources/uid/([\w-]+)$", state.datasources),
                                   (r"/api/dashboards/uid/([\w-]+)$", state.dashboards)):
                match = re.match(pattern, self.path)
                if match:
                    found = store.get(match.group(1))
                    self._answer(200, found) if found else self._answer(404, {"message": "not found"})
                    return
            state.violations.append(f"GET {self.path}: not in Grafana's API")
            self._answer(404, {"message": "no such route"})

        def do_POST(self) -> None:
            if not self._authorised():
                return
            body = self._body()
            if self.path == "/api/folders":
                if self._require(body, "title", "uid"):
                    self._folder(body)
            elif self.path == "/api/datasources":
                if self._require(body, "name", "type", "access", "uid"):
                    state.datasources[body["uid"]] = {k: v for k, v in body.items() if k != "secureJsonData"}
                    self._answer(200, {"message": "Datasource added", "datasource": body})
            elif self.path == "/api/dashboards/db":
                if self._require(body, "dashboard", "folderUid", "overwrite"):
                    self._dashboard(body)
            else:
                state.violations.append(f"POST {self.path}: not in Grafana's API")
                self._answer(404, {"message": "no such route"})

        def _folder(self, body: dict[str, Any]) -> None:
            state.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "id": 1}
            self._answer(200, state.folders[body["uid"]])

        def _dashboard(self, body: dict[str, Any]) -> None:
            board = body["dashboard"]
            if board.get("id") is not None or "uid" not in board or "title" not in board:
                state.violations.append(f"POST {self.path}: dashboard needs uid, title, id null")
            if body["folderUid"] not in state.folders or body["overwrite"] is not True:
                state.violations.append(f"POST {self.path}: unknown folder or no overwrite")
            version = state.dashboards.get(board["uid"], {}).get("dashboard", {}).get("version", 0) + 1
            state.dashboards[board["uid"]] = {
                "dashboard": {**board, "id": 7, "version": version},
                "meta": {"folderUid": body["folderUid"]}}
            self._answer(200, {"id": 7, "uid": board["uid"], "status": "success", "version": version})

        def do_PUT(self) -> None:
            if not self._authorised():
                return
            body = self._body()
            match = re.match(r"/api/datasources/uid/([\w-]+)$", self.path)
            if match and match.group(1) in state.datasources and self._require(body, "name", "type",
                                                                               "access"):
                state.datasources[match.group(1)] = {k: v for k, v in body.items() if k != "secureJsonData"}
                self._answer(200, {"message": "Datasource updated"})
            else:
                state.violations.append(f"PUT {self.path}: not in Grafana's API or unknown uid")
                self._answer(404, {"message": "not found"})

    return Handler


@pytest.fixture()
def grafana_contract() -> Iterator[tuple[str, FakeGrafanaState]]:
    state = FakeGrafanaState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()


def push(url: str, tmp_path: Path, *extra: str) -> str:
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    done = subprocess.run([sys.executable, "-m", "cxpulse", "dashboards", "push", "--url", url,
                           "--token-file", str(token), *extra], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_push_creates_everything_then_a_second_push_changes_nothing(
        grafana_contract: tuple[str, FakeGrafanaState], tmp_path: Path) -> None:
    url, state = grafana_contract
    password = tmp_path / "pw"
    password.write_text("s3cret")
    first = push(url, tmp_path, "--clickhouse-password-file", str(password))
    assert state.violations == []
    assert set(state.folders) == {"cxpulse"}
    assert set(state.datasources) == set(re.findall(r"uid: ([\w-]+)", PROVISIONING.read_text()))
    assert state.datasources["cxpulse-clickhouse"]["jsonData"]["username"] == "cxpulse_grafana"
    [create_ch] = [body for _method, path, body in state.writes
                   if path == "/api/datasources" and body["uid"] == "cxpulse-clickhouse"]
    assert create_ch["secureJsonData"] == {"password": "s3cret"}
    boards = {build()["uid"]: build() for build in BOARDS.values()}
    assert set(state.dashboards) == set(boards)
    for uid, board in boards.items():
        stored = state.dashboards[uid]
        assert stored["meta"]["folderUid"] == "cxpulse"
        assert stored["dashboard"]["annotations"] == board["annotations"]  # the alert annotations
    assert f"{len(boards) + 3} created" in first

    writes = len(state.writes)
    second = push(url, tmp_path)
    assert state.writes[writes:] == [] and "0 created, 0 updated" in second


def test_a_changed_board_is_written_again_with_overwrite(
        grafana_contract: tuple[str, FakeGrafanaState], tmp_path: Path) -> None:
    url, state = grafana_contract
    push(url, tmp_path)
    uid = next(iter(state.dashboards))
    state.dashboards[uid]["dashboard"]["title"] = "edited in the UI"
    writes = len(state.writes)
    out = push(url, tmp_path)
    assert [(m, p) for m, p, _ in state.writes[writes:]] == [("POST", "/api/dashboards/db")]
    assert state.writes[-1][2]["overwrite"] is True and f"updated dashboard {uid}" in out
    assert state.violations == []


def test_a_wrong_token_fails_with_one_line(grafana_contract: tuple[str, FakeGrafanaState],
                                           tmp_path: Path) -> None:
    url, _state = grafana_contract
    token = tmp_path / "bad"
    token.write_text("nope")
    done = subprocess.run([sys.executable, "-m", "cxpulse", "dashboards", "push", "--url", url,
                           "--token-file", str(token)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1
