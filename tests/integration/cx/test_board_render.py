"""``cxpulse dashboards render`` on the real server: every panel of every board runs and is drawn."""

from __future__ import annotations

from pathlib import Path

from matplotlib import image

from cxpulse.board_render import render
from dashboards.build import BOARDS
from dashboards.macros import TimeRange
from dashboards.panels import sql_queries
from sql.client import ServerDatabase
from tests.integration.cx.data import SPAN_S, START_MS

DATA = TimeRange(START_MS // 1000, START_MS // 1000 + SPAN_S)
EMPTY_HERE = {"closed_loop", "voice_of_customer"}
"""Boards reading only tables the CX data set leaves empty (follow-ups, indexed comments)."""


def test_every_board_is_drawn_with_every_panel_from_live_data(server_data: ServerDatabase,
                                                               tmp_path: Path) -> None:
    drawn = render(server_data, [], DATA, tmp_path)
    assert [path.name for path, _results in drawn] == [f"{name}.png" for name in BOARDS]
    for (path, results), name in zip(drawn, BOARDS, strict=True):
        assert [r.title for r in results] == [p["title"] for p, _s in sql_queries(BOARDS[name]())]
        assert [r.error for r in results if r.error] == [], name
        if name not in EMPTY_HERE:
            assert any(r.rows for r in results), f"{name}: every panel empty"
        height, width, _channels = image.imread(path).shape
        assert width > 600 and height > 200 * min(len(results), 4), (name, width, height)


def test_an_unknown_board_is_named_in_the_error(server_data: ServerDatabase, tmp_path: Path) -> None:
    try:
        render(server_data, ["ops_overview", "nope"], DATA, tmp_path)
    except ValueError as exc:
        assert "nope" in str(exc) and "ops_overview" in str(exc)
    else:
        raise AssertionError("an unknown board was accepted")
