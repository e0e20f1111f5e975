"""The sentiment model trained and evaluated on the seeded comments (its held-out figures printed;
no quality threshold here), and the quarterly report: its numbers against the CLI for the same
window, its PDF pages rendered to PNG by pdftoppm, its HTML opened in headless Chromium with every
chart drawn."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from sql.client import ServerDatabase
from sql.voc import training_examples
from tests.integration.test_widget_browser import CHROMEDRIVER, CHROMIUM
from tests.integration.voc.conftest import END_S, MIN_N, START_S
from voc.sentiment import LABEL_OF_VOICE, LABELS, load_active, save, train

Q4_START, Q4_END = START_S, 1_798_761_600  # 2026-10-01 .. 2027-01-01


def test_sentiment_model_trains_and_reports_held_out_figures(server_data: ServerDatabase,
                                                             tmp_path: Path) -> None:
    examples = [(i, t, LABEL_OF_VOICE[v]) for i, t, v in training_examples(server_data, START_S, END_S)]
    model, evaluation = train(examples)
    print("\n" + evaluation.describe())
    print(json.dumps(evaluation.per_class, indent=1))
    assert evaluation.train_n + evaluation.held_out_n == len(examples) and evaluation.held_out_n > 0
    assert 0 <= evaluation.accuracy <= 1 and 0 <= evaluation.macro_f1 <= 1
    assert set(evaluation.per_class) <= set(LABELS)
    assert sum(int(c["n"]) for c in evaluation.per_class.values()) == evaluation.held_out_n
    folder = save(tmp_path, model, evaluation)
    assert json.loads((folder / "metrics.json").read_text())["version"] == model.version
    loaded = load_active(tmp_path)
    assert (loaded is not None) == evaluation.active
    predicted = model.predict([examples[0][1]])
    assert predicted[0][0] in LABELS and -1 <= predicted[0][1] <= 1


def cxpulse(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([".venv/bin/cxpulse", *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def report_env(cli_env: dict[str, str], server_data: ServerDatabase, tmp_path_factory: pytest.TempPathFactory
               ) -> dict[str, str]:
    run = tmp_path_factory.mktemp("voc-run")
    return {**cli_env, "CXPULSE_CLICKHOUSE_DATABASE": server_data.database, "CXPULSE_RUN_DIR": str(run),
            "CXPULSE_MIN_N": str(MIN_N)}


@pytest.fixture(scope="module")
def reports(report_env: dict[str, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    out = tmp_path_factory.mktemp("report")
    cxpulse(report_env, "voc", "train", "--from", str(START_S), "--to", str(END_S))
    files = {fmt: out / f"voc-2026Q4.{fmt}" for fmt in ("html", "pdf")}
    for fmt, path in files.items():
        cxpulse(report_env, "report", "--quarter", "2026Q4", "--format", fmt, "--out", str(path))
    # the seeded weeks end before the quarter does: a window ending with the data has emerging terms
    files["window"] = out / "voc-window.html"
    cxpulse(report_env, "report", "--from", str(START_S), "--to", str(END_S), "--out", str(files["window"]))
    yield files


def report_data(html: Path) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html.read_text())
    assert found
    data: dict[str, Any] = json.loads(found.group(1).replace("<\\/", "</"))
    return data


def test_report_numbers_are_the_cli_numbers(report_env: dict[str, str], reports: dict[str, Path]) -> None:
    data = report_data(reports["html"])
    window = ["--from", str(Q4_START), "--to", str(Q4_END), "--format", "json"]
    [metrics] = json.loads(cxpulse(report_env, "metrics", *window))
    for name in ("csat_pct", "nps", "ces_mean", "fcr_pct", "csat_responses", "nps_responses",
                 "ces_responses"):
        assert data["headline"][name] == metrics[name], name
    impact = json.loads(cxpulse(report_env, "impact", *window))
    assert data["impact"]["total"] == impact["total"]
    assert data["impact"]["scopes"] == impact["scopes"]
    terms = json.loads(cxpulse(report_env, "voc", "terms", "--by", "touchpoint", "--top", "5", *window))
    assert data["voice"]["terms"] == terms["scopes"] and terms["scopes"]
    journey = json.loads(cxpulse(report_env, "journey", *window))
    assert [(c["touchpoint"], c["csat_pct"], c["csat_responses"]) for c in data["journey"]["cells"]] == \
        [(c["touchpoint"], c["csat_pct"], c["csat_responses"]) for c in journey["cells"]]
    assert data["fixes"] and data["fixes"][0]["verdict"] in ("improved", "mixed", "worse",
                                                             "no significant change")
    text = reports["html"].read_text()
    assert f"{metrics['csat_pct']:.1f}" in text and f"{impact['total']['revenue_at_risk']:,.0f}" in text


def test_pdf_pages_render_to_png(reports: dict[str, Path], tmp_path: Path) -> None:
    assert reports["pdf"].read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(reports["pdf"]), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 4 and all(p.stat().st_size > 5000 for p in pages)


def test_html_opens_in_chromium_with_every_chart_drawn(reports: dict[str, Path]) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        for name, wanted in (("html", set()), ("window", {"emerging terms"})):
            driver.get(reports[name].as_uri())
            charts = driver.find_elements(By.CSS_SELECTOR, "img.chart")
            names = {c.get_attribute("data-chart") for c in charts}
            assert {"weekly trend", "journey map", "pain points", "fixes", "top terms"} | wanted <= names
            for chart in charts:
                assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0",
                                             chart), chart.get_attribute("data-chart")
            assert "What customers said" in driver.find_element(By.TAG_NAME, "body").text
    finally:
        driver.quit()
