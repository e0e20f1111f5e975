"""The deployment files validate: compose with `docker-compose config` (the Python docker-compose, in its
own venv: it pins old libraries), the Kubernetes manifests with kubernetes-validate (strict). Docker
cannot pull images here, so nothing is run. Plus what the files must say: benchmark-sized requests,
probes on /health, a disruption budget for workers, secrets only in Secrets and 0400 files.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "infra/compose/compose.yaml"
DOCKER_COMPOSE = REPO / ".venv-compose/bin/docker-compose"
K8S = sorted((REPO / "infra/k8s").glob("*.yaml"))
KUBERNETES = "1.30.0"


def compose_config(compose: Path, secrets: Path) -> subprocess.CompletedProcess[str]:
    assert DOCKER_COMPOSE.exists(), "docker-compose missing: `make compose-venv` (make test does it)"
    return subprocess.run([str(DOCKER_COMPOSE), "-f", str(compose), "config"], capture_output=True,
                          text=True, timeout=120, check=False,
                          env={**os.environ, "CXPULSE_SECRETS_DIR": str(secrets)})


@pytest.fixture()
def example_secrets(tmp_path: Path) -> Path:
    (tmp_path / "clickhouse.env").write_text("CXPULSE_CH_WORKER_SHA256=00\n")
    (tmp_path / "grafana.env").write_text("GF_SECURITY_ADMIN_PASSWORD=example\n")
    for name in ("migrate", "worker", "ingest", "bridge"):
        (tmp_path / f"{name}.env.json").write_text(json.dumps({"CXPULSE_KAFKA_BOOTSTRAP": "kafka:9092"}))
    return tmp_path


def test_compose_file_is_valid_and_complete(example_secrets: Path) -> None:
    done = compose_config(COMPOSE, example_secrets)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    services = config["services"]
    assert {"kafka", "clickhouse", "grafana", "prometheus", "alertmanager", "mosquitto", "redis", "worker",
            "ingest", "kiosk-bridge", "migrate"} <= set(services)
    assert "KAFKA_PROCESS_ROLES" in services["kafka"]["environment"]  # KRaft, no ZooKeeper
    assert services["grafana"]["environment"]["GF_INSTALL_PLUGINS"] == "grafana-clickhouse-datasource"
    assert services["worker"]["deploy"]["replicas"] >= 2
    for name in ("worker", "ingest", "kiosk-bridge", "migrate"):
        env = services[name]["environment"]
        assert set(env) == {"CXPULSE_ENV_FILE"} and services[name]["secrets"], name  # secrets as files
    for path in (REPO / "infra/compose", REPO / "infra/k8s"):
        assert not list(path.rglob("*.py"))


def test_compose_check_can_fail(example_secrets: Path, tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("    command: [\"worker\"]", "    comand: [\"worker\"]"))
    (tmp_path / "Dockerfile").write_text("")
    done = compose_config(broken, example_secrets)
    assert done.returncode != 0 and "comand" in done.stderr, done.stderr


def documents() -> list[dict[str, Any]]:
    return [d for path in K8S for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize("path", K8S, ids=lambda p: p.name)
def test_kubernetes_manifests_validate(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_kubernetes_validation_can_fail() -> None:
    [worker] = [d for d in documents() if d["kind"] == "Deployment" and "worker" in d["metadata"]["name"]]
    broken = json.loads(json.dumps(worker))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_workers_sized_from_the_benchmark_probed_and_budgeted() -> None:
    docs = documents()
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    worker = deployments["cxpulse-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert worker["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}  # ~1 core, soak RSS ~860 MB
    assert worker["resources"]["limits"] == {"memory": "2Gi"}  # room for the stored-row index to grow
    for name in ("cxpulse-worker", "cxpulse-ingest"):
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/health"
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    budgets = {d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert "cxpulse-worker" in budgets
    for deployment in deployments.values():
        spec = deployment["spec"]["template"]["spec"]
        for container in spec["containers"]:
            assert [e["name"] for e in container.get("env", [])] == ["CXPULSE_ENV_FILE"]
        secret_volumes = [v["secret"] for v in spec["volumes"] if "secret" in v]
        assert secret_volumes and all(v["defaultMode"] == 0o400 for v in secret_volumes)
    assert any(d["kind"] == "Secret" for d in docs)
