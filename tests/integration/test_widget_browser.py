"""The survey widget in headless Chromium, embedded in a page of another origin, against the stack.

Two widgets on one shop page (smileys and 0-10) are answered by clicking, their answers reach Kafka and
ClickHouse with the comment's PII redacted; the same page served from an origin the browser key does
not allow fails visibly and sends nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from cxpulse.settings import Settings
from schemas.topics import Topics
from sql.client import ServerDatabase
from tests.conftest import free_port, run_tag
from tests.integration.test_end_to_end import cxpulse
from tests.integration.test_ingest_end_to_end import add_key, topic_ids

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def shop_page(ingest_port: int, key_id: str, tag: str) -> bytes:
    src = f"http://127.0.0.1:{ingest_port}/widget.js"
    return f"""<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>shop</title></head>
<body><h1>Cảm ơn bạn đã mua hàng</h1>
<div id="smiley"></div><div id="nps"></div>
<script src="{src}" data-key="{key_id}" data-touchpoint="checkout_{tag}" data-scale="smiley"
        data-target="#smiley" data-lang="vi" data-customer="CUST-{tag}"></script>
<script src="{src}" data-key="{key_id}" data-touchpoint="checkout_{tag}" data-scale="nps"
        data-target="#nps" data-comment="off"></script>
</body></html>""".encode()


class _Page:
    """A tiny web server for one page, on its own origin."""

    def __init__(self) -> None:
        self.body = b""
        page = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(page.body)

            def log_message(self, *_args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def answer(driver: webdriver.Chrome, box: str, score: int, comment: str | None = None) -> str:
    """Click a score (and type a comment), send, and return the widget's final state."""
    wait = WebDriverWait(driver, 20)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"{box} .cx-survey"))
    driver.find_element(By.CSS_SELECTOR, f'{box} .cx-choice[data-score="{score}"]').click()
    if comment is not None:
        driver.find_element(By.CSS_SELECTOR, f"{box} .cx-comment").send_keys(comment)
    driver.find_element(By.CSS_SELECTOR, f"{box} .cx-send").click()
    state: str = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"{box} .cx-survey")
                            .get_attribute("data-cx-state") in ("sent", "failed")
                            and d.find_element(By.CSS_SELECTOR, f"{box} .cx-survey")
                            .get_attribute("data-cx-state"))
    return state


def test_widget_answers_reach_clickhouse_from_an_allowed_origin_only(
        running_stack: Settings, cli_env: dict[str, str], server_db: ServerDatabase,
        browser: webdriver.Chrome) -> None:
    tag = run_tag("wgt")
    shop, other = _Page(), _Page()
    try:
        key_id, _ = add_key(running_stack, "browser", allowed_origins=(shop.origin,))
        page = shop_page(running_stack.ingest_port, key_id, tag)
        shop.body = other.body = page

        browser.get(shop.origin + "/thank-you")
        assert answer(browser, "#smiley", 1, "Giao chậm quá, gọi 0912 345 678 nhé") == "sent"
        assert answer(browser, "#nps", 9) == "sent"
        assert "Cảm ơn" in browser.find_element(By.CSS_SELECTOR, "#smiley .cx-status").text

        browser.get(other.origin + "/thank-you")  # same page, an origin the key does not allow
        assert answer(browser, "#smiley", 4) == "failed"
    finally:
        shop.close()
        other.close()

    stored = topic_ids(running_stack, Topics(running_stack.topic_prefix).touchpoints, tag)
    assert len(stored) == 2
    cxpulse(cli_env, "drain", "--timeout", "180")
    rows = server_db.execute(
        "SELECT csat, nps, comment, journey_stage, ifNull(customer_id, '') LIKE 'c\\_%%', language "
        "FROM touchpoint_events WHERE touchpoint = %(tp)s ORDER BY ifNull(csat, 0)",
        {"tp": f"checkout_{tag}"})
    assert rows == [(None, 9, "", "unknown", 0, ""),
                    (1, None, "Giao chậm quá, gọi [phone] nhé", "unknown", 1, "vi")]
