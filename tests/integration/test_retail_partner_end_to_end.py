"""Retail-partner drop folder (Windows-1258 and BOM files) -> Kafka -> worker -> ClickHouse.

The rows sit at now-6d .. now-6d+15min: outside the windows other tests compare; the touchpoint,
stores and ids carry a per-run tag.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from connectors.retail_partner import RetailPartnerConfig, RetailPartnerCsvConnector
from connectors.sdk.files import process_drop_folder
from cxpulse.settings import Settings
from sql.client import ServerDatabase
from tests.conftest import run_tag
from tests.integration.test_call_center_end_to_end import publisher_for
from tests.integration.test_end_to_end import cxpulse, dead_letters
from tests.unit.test_retail_partner import BAD_REASONS, minimart_mapping, read_report, render

DAY_MS = 86_400_000


def stored(db: ServerDatabase, touchpoint: str) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT event_id, channel, partner_id, location_id, region, customer_id, interaction_id, "
        "csat, nps, comment FROM touchpoint_events WHERE touchpoint = %(tp)s ORDER BY event_id",
        {"tp": touchpoint})


def test_drop_folder_files_land_exactly_once_with_reports(
        running_stack: Settings, cli_env: dict[str, str], server_db: ServerDatabase,
        tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    tag = run_tag("rp")
    touchpoint = f"partner_store_{tag}"
    drop = tmp_path / "drop"
    drop.mkdir()
    cp1258 = render(drop, "minimart__2026-11-a.csv", tag, now - 6 * DAY_MS, "cp1258")
    render(drop, "minimart__2026-11-b.csv", f"{tag}b", now - 6 * DAY_MS, "utf-8-bom")
    keep = tmp_path / "a-copy.csv"
    shutil.copy(cp1258, keep)
    connector = RetailPartnerCsvConnector(RetailPartnerConfig.model_validate(
        {"partners": {"minimart": minimart_mapping(touchpoint)}}))

    results = process_drop_folder(drop, connector, publisher_for(running_stack, connector))
    assert [(r.encoding, r.summary.records, r.summary.accepted) for r in results] == [
        ("cp1258", 10, 3), ("utf-8-bom", 10, 3)]
    assert process_drop_folder(drop, connector, publisher_for(running_stack, connector)) == []
    shutil.copy(keep, drop / "minimart__2026-11-a-resent.csv")  # a re-dropped file adds nothing
    [again] = process_drop_folder(drop, connector, publisher_for(running_stack, connector))
    assert again.summary.accepted == 3
    cxpulse(cli_env, "drain", "--timeout", "180")

    rows = stored(server_db, touchpoint)
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)) == 6
    assert {i.rsplit("/", 1)[1] for i in ids} == {"1", "2", "3"}
    assert {r[0].split("/")[2] for r in rows} == {results[0].sha256, results[1].sha256}
    by_order = {(r[3], r[6]): r for r in rows}
    first = by_order[(f"{tag}-hcm01", "HD001")]
    assert first[1:5] == ("retail_partner", "minimart", f"{tag}-hcm01", "HCM")
    assert (first[7], first[8], first[9]) == (5, 9, "Rất hài lòng, nhân viên thân thiện")
    assert "[phone]" in by_order[(f"{tag}-hcm01", "HD002")][9]
    text = repr(rows)
    # the raw phone forms, not "0912" alone: that also turns up in a file's sha256 inside event ids
    assert "0912.345.678" not in text and "0912 345 678" not in text and f"{tag}-cust" not in text
    assert all(r[5] is None or r[5] == "" or str(r[5]).startswith("c_") for r in rows)

    # found by file hash: a row's only tagged cell may be its customer id, pseudonymised on cx.dlq
    dlq = dead_letters(running_stack, results[0].sha256) + dead_letters(running_stack, results[1].sha256)
    reasons: Counter[str] = Counter()
    for (_, reason), n in dlq.items():
        reasons[reason] += n
    # both files' bad rows, and the re-drop's again
    assert reasons == Counter({r: 3 for r in BAD_REASONS})
    assert sorted(dlq.values()) == [1] * 7 + [2] * 7  # the re-drop's dead letters are byte-equal
    report = read_report(drop / "minimart__2026-11-a.csv.rejected.csv")
    assert [r[1] for r in report[1:]] == BAD_REASONS
    assert "Điểm bằng chữ" in report[4][3]
    assert sorted(p.name for p in (drop / "processed").iterdir()) == [
        "minimart__2026-11-a-resent.csv", "minimart__2026-11-a.csv", "minimart__2026-11-b.csv"]
