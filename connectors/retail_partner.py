"""Retail partners: a watched drop folder of partner CSV files, each processed exactly once.

A partner drops ``<partner_id>__<anything>.csv`` into the folder. The SDK's ``process_drop_folder``
(``cxpulse connector watch``) then, per file (``process_file``):

1. reads its bytes and their SHA-256, and decodes them: UTF-8 with BOM, UTF-8, else Windows-1258
   (Vietnamese; its combining tone marks are recomposed to NFC);
2. maps every row through ``RetailPartnerCsvConnector.to_events`` with that partner's column mapping,
   in the SDK runtime (``ConnectorRuntime``: per-connector counters, retries with backoff); good rows
   are published (protected by the publisher: customer ids pseudonymised with its key, comments
   redacted), bad rows are dead-lettered with their reason — a bad row never holds back a good one;
3. flushes the publisher (a Kafka failure raises and leaves the file in place, to be retried);
4. writes ``<file>.rejected.csv`` beside it (UTF-8 with BOM, opens in Excel): ``row_number, reason,
   detail, raw_row`` for every bad row (only the header when every row was good);
5. moves the file into ``processed/``.

Event ids are ``rp/{partner}/{file sha256}/{row number}``: a file re-dropped (even renamed) gives the
same ids, so it adds nothing downstream; a crash between steps 3 and 5 only re-sends duplicates.
Row numbers count data rows from 1 (the header is not a row).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import re
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from connectors.sdk.atomic import write_atomic
from connectors.sdk.base import ConnectorConfig, InvalidRecord
from connectors.sdk.cells import cell_score, cell_text
from connectors.sdk.fields import Channel, JourneyStage
from connectors.sdk.files import PROCESSED, FileConnector
from connectors.sdk.runtime import ConnectorRuntime, Publisher, RunSummary

log = logging.getLogger(__name__)
PARTNER_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
"""Partner ids: lower-case words joined by one ``-`` or ``_`` (``__`` separates id and file name)."""
REPORT_SUFFIX = ".rejected.csv"
REPORT_HEADER = ["row_number", "reason", "detail", "raw_row"]
SCORES = ("csat", "nps", "ces")
MAX_CELL = 2000


class PartnerMapping(ConnectorConfig):
    """One partner's export: column names (None: no such column) and fixed event fields."""

    event_time: str = "event_time"
    time_format: str | None = Field(None, description="strptime format; None: ISO-8601 or epoch ms")
    timezone: str = Field("Asia/Ho_Chi_Minh", description="for times without an offset")
    location: str | None = "store_id"
    region: str | None = None
    customer: str | None = "customer_id"
    order: str | None = Field(None, description="receipt / order number -> interaction_id")
    csat: str | None = "csat"
    nps: str | None = "nps"
    ces: str | None = None
    comment: str | None = "comment"
    language: str | None = None
    channel: Channel = "retail_partner"
    touchpoint: str = Field("partner_store", min_length=1)
    journey_stage: JourneyStage = "purchase"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}") from None
        return value


class RetailPartnerConfig(ConnectorConfig):
    """partner_id -> its column mapping."""

    partners: dict[str, PartnerMapping] = Field(default_factory=dict)

    @field_validator("partners")
    @classmethod
    def _ids(cls, value: dict[str, PartnerMapping]) -> dict[str, PartnerMapping]:
        bad = sorted(p for p in value if not PARTNER_RE.match(p) or "__" in p or len(p) > 64)
        if bad:
            raise ValueError(f"invalid partner id(s) {bad}: lower-case words joined by - or _")
        return value


def _cell(row: dict[str, Any], column: str | None) -> str | None:
    """The stripped cell of ``column``; InvalidRecord ``missing_column`` if the header lacks it."""
    if column is None:
        return None
    if column not in row:
        raise InvalidRecord("missing_column", f"the file has no column {column!r}")
    text = cell_text(row[column])
    if text is not None and len(text) > MAX_CELL:
        raise InvalidRecord("invalid_row", f"{column} is longer than {MAX_CELL} characters")
    return text


def _event_time(text: str | None, mapping: PartnerMapping) -> int:
    """The row's time -> epoch ms UTC; naive times are in the partner's timezone."""
    if text is None:
        raise InvalidRecord("missing_event_time", f"{mapping.event_time} is required")
    try:
        if text.isdigit():
            return int(text)
        if mapping.time_format:
            # a naive result gets the partner's timezone below
            parsed = datetime.strptime(text, mapping.time_format)  # noqa: DTZ007
        else:
            parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRecord("invalid_event_time",
                            f"{mapping.event_time} {text[:40]!r} does not match "
                            f"{mapping.time_format or 'ISO-8601'}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(mapping.timezone))
    return int(parsed.astimezone(UTC).timestamp() * 1000)


class RetailPartnerCsvConnector(FileConnector[RetailPartnerConfig]):
    """Partner CSV rows -> ``response`` events on channel retail_partner (see the module docstring).

    A file connector with drop-folder rules of its own: only ``<partner_id>__*.csv`` files are
    taken, and each gets a rejection report beside it (``process_file``).
    """

    name = "retail-partner-csv"
    Config = RetailPartnerConfig

    def pending(self, folder: Path, min_age_s: float = 0.0) -> list[Path]:
        """Dropped partner files not processed yet (``pending_files``)."""
        return pending_files(folder, min_age_s)

    def process_dropped(self, path: Path, publisher: Publisher) -> FileResult:
        """One dropped partner file: publish, report, move (``process_file``)."""
        return process_file(path, self, publisher)

    def to_events(self, raw: Any) -> list[dict[str, Any]]:
        """One row record -> one response event. Pure.

        ``raw`` is ``{"partner_id", "file_sha256", "row_number", "row": {column: text}}`` plus
        ``"extra_cells"`` when the row has more cells than the header (what ``file_records`` yields).
        Raises InvalidRecord: ``invalid_row``, ``unknown_partner``, ``missing_column``,
        ``missing_event_time``, ``invalid_event_time``, ``missing_location``, ``invalid_score``,
        ``empty_response``.
        """
        if not isinstance(raw, dict) or not isinstance(raw.get("row"), dict):
            raise InvalidRecord("invalid_row", "expected a partner row record")
        if raw.get("extra_cells"):
            raise InvalidRecord("invalid_row", f"{len(raw['extra_cells'])} more cell(s) than the header")
        partner, sha, number = raw.get("partner_id"), raw.get("file_sha256"), raw.get("row_number")
        if not isinstance(sha, str) or not isinstance(number, int) or not isinstance(partner, str):
            raise InvalidRecord("invalid_row", "partner_id, file_sha256 and row_number are required")
        mapping = self.config.partners.get(partner)
        if mapping is None:
            raise InvalidRecord("unknown_partner", f"no column mapping for partner {partner[:64]!r}")
        row: dict[str, Any] = raw["row"]
        occurred_at = _event_time(_cell(row, mapping.event_time), mapping)
        location = _cell(row, mapping.location)
        if mapping.location is not None and location is None:
            raise InvalidRecord("missing_location", f"{mapping.location} is required")
        scores = {k: cell_score(_cell(row, getattr(mapping, k)), getattr(mapping, k)) for k in SCORES}
        comment = _cell(row, mapping.comment)
        if all(v is None for v in scores.values()) and comment is None:
            raise InvalidRecord("empty_response", "no score and no comment")
        return [{
            "event_id": f"rp/{partner}/{sha}/{number}", "occurred_at": occurred_at,
            "channel": mapping.channel, "source": self.name, "kind": "response",
            "touchpoint": mapping.touchpoint, "journey_stage": mapping.journey_stage,
            "partner_id": partner, "location_id": location or "",
            "region": _cell(row, mapping.region) or "", "customer_id": _cell(row, mapping.customer),
            "interaction_id": _cell(row, mapping.order), "comment": comment,
            "language": _cell(row, mapping.language), **scores,
        }]


def decode(data: bytes) -> tuple[str, str]:
    """File bytes -> (NFC text, encoding): UTF-8 with BOM, UTF-8, else Windows-1258."""
    for encoding in ("utf-8-sig", "cp1258"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        name = "utf-8-bom" if data.startswith(b"\xef\xbb\xbf") else (
            "utf-8" if encoding == "utf-8-sig" else encoding)
        return unicodedata.normalize("NFC", text), name
    raise InvalidRecord("invalid_encoding", "neither UTF-8 nor Windows-1258")


def partner_of(path: Path) -> str:
    """``acme__2026-11.csv`` -> ``acme``."""
    return path.name.partition("__")[0]


def file_records(text: str, partner_id: str, sha: str) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """(row record for ``to_events``, the row's cells) for every non-empty data row of ``text``."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    for number, cells in enumerate((c for c in reader if any(x.strip() for x in c)), start=1):
        record: dict[str, Any] = {
            "partner_id": partner_id, "file_sha256": sha, "row_number": number,
            "row": {h: cells[i] if i < len(cells) else None for i, h in enumerate(header)}}
        if len(cells) > len(header):
            record["extra_cells"] = cells[len(header):]
        yield record, cells


@dataclass
class FileResult:
    """One processed file: where it went, its report, and what happened to its rows."""

    partner_id: str
    processed: Path
    report: Path
    encoding: str
    sha256: str
    summary: RunSummary = field(default_factory=RunSummary)
    rejected_rows: list[tuple[int, str, str, str]] = field(default_factory=list)

    def line(self) -> str:
        """``acme__x.csv (acme, cp1258): records 7, accepted 5, rejected 2 (...)``."""
        return f"{self.processed.name} ({self.partner_id}, {self.encoding}): {self.summary.line()}"


def _csv_line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


def _publish_rows(text: str, result: FileResult, runtime: ConnectorRuntime) -> None:
    """Every row of the file through the runtime, each rejection counted and listed for the report.

    Rejections count by their exact dead-letter reason (``score_out_of_range``, not
    ``invalid_event``); a report row is (row number, reason, detail, the row as CSV).
    """
    for record, cells in file_records(text, result.partner_id, result.sha256):
        outcome = runtime.process_record(record)
        result.summary.records += 1
        result.summary.accepted += outcome.accepted
        for rejection in outcome.rejections:
            result.summary.reject(rejection.reason)
            result.rejected_rows.append(
                (record["row_number"], rejection.reason, rejection.detail, _csv_line(cells)))


def _write_report(result: FileResult) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REPORT_HEADER)
    writer.writerows(result.rejected_rows)
    write_atomic(result.report, out.getvalue().encode("utf-8-sig"))


def process_file(path: Path, connector: RetailPartnerCsvConnector, publisher: Publisher) -> FileResult:
    """One dropped file: publish, dead-letter, flush, write its report, move it to ``processed/``.

    Rows go through ``ConnectorRuntime`` (counted per connector, retried with backoff). A file that
    is neither UTF-8 nor Windows-1258 is reported as row 0 and moved; nothing of it is sent to Kafka.
    The report and the move happen only after the flush succeeded.
    """
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    partner = partner_of(path)
    bad_file: tuple[int, str, str, str] | None = None
    try:
        text, encoding = decode(data)
    except InvalidRecord as exc:  # the whole file: reported as row 0, not sent to Kafka
        text, encoding = "", "unknown"
        bad_file = (0, exc.reason, exc.detail, "")
    result = FileResult(partner, path.parent / PROCESSED / path.name,
                        path.with_name(path.name + REPORT_SUFFIX), encoding, sha)
    if bad_file:
        result.rejected_rows.append(bad_file)
        result.summary.reject(bad_file[1])
    _publish_rows(text, result, ConnectorRuntime(connector, publisher))
    publisher.flush()  # raises if Kafka did not acknowledge: the file stays and is retried
    _write_report(result)
    result.processed.parent.mkdir(exist_ok=True)
    if result.processed.exists():  # the same name dropped again: keep both
        result.processed = result.processed.with_name(f"{path.stem}.{sha[:12]}{path.suffix}")
    os.replace(path, result.processed)
    return result


def pending_files(folder: Path, min_age_s: float = 0.0) -> list[Path]:
    """Dropped files not yet processed, oldest name first; files younger than ``min_age_s`` wait."""
    now = time.time()
    return sorted(
        p for p in folder.glob("*__*.csv")
        if p.is_file() and not p.name.endswith(REPORT_SUFFIX) and not p.name.startswith(".")
        and now - p.stat().st_mtime >= min_age_s)
