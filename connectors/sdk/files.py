"""File sources: reading records out of files, running them through the runtime, watching a folder.

A file connector (``FileConnector``, kind ``file``) maps one record of a file to events like any
connector; this module does the rest the same way for all of them:

- ``read_records`` splits a file into records by ``file_format``: ``json`` (one object, an array,
  JSON lines, or Firehose's back-to-back objects), ``jsonl`` (one JSON value per line) or ``csv``
  (UTF-8, a BOM allowed). Unparsable text becomes an ``invalid_json`` rejection of its own line;
  reading goes on with the next one;
- ``ingest_records`` runs them through ``ConnectorRuntime`` (per-connector counters, retries,
  dead letters with the record's bytes as read), then flushes; one bad record never stops the rest;
- ``process_drop_folder`` / ``watch`` process every file dropped into a folder exactly once: the
  file moves to ``processed/`` only after Kafka acknowledged what became of it.

``RunSummary`` (records, accepted, rejected by reason) is the one summary of every run.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Literal, Protocol

import orjson

from connectors.sdk.base import C, Connector, FatalError
from connectors.sdk.runtime import ConnectorRuntime, Publisher, RunSummary

log = logging.getLogger(__name__)
PROCESSED = "processed"
"""The sub-folder of a drop folder that processed files move into."""
FileFormat = Literal["json", "jsonl", "csv"]
Record = tuple[Any, bytes]
"""(parsed record, its bytes as kept on the dead-letter topic)."""
Unparsable = tuple[None, bytes, str, str]
"""(None, the bytes, dead-letter reason, detail) of text that is no record."""


def json_records(text: str) -> Iterator[Record | Unparsable]:
    """JSON objects of a file: one object, an array, JSON lines, or concatenated objects (Firehose).

    Unparsable text is yielded as ``(None, raw, "invalid_json", detail)`` up to the end of its line,
    and reading resumes on the next line.
    """
    decoder, pos = json.JSONDecoder(), 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return
        try:
            obj, end = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, RecursionError) as exc:
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            detail = str(exc) if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            yield None, text[pos:end].encode(), "invalid_json", detail
            pos = end
            continue
        for item, raw in ([(i, None) for i in obj] if isinstance(obj, list)
                          else [(obj, text[pos:end].encode())]):
            yield _checked(item, raw)
        pos = end


def _checked(item: Any, raw: bytes | None) -> Record | Unparsable:
    r"""A parsed record, or invalid if it holds a lone surrogate (``\ud800``: no Unicode text).

    ``raw`` is the record's bytes as read (None for an item of an array: its JSON, ASCII-escaped).
    """
    try:
        encoded = orjson.dumps(item)
    except TypeError:  # orjson refuses surrogates: the record cannot be text anywhere downstream
        return None, raw or json.dumps(item).encode(), "invalid_unicode", "lone surrogate escape"
    return item, raw if raw is not None else encoded


def jsonl_records(lines: Iterable[bytes]) -> Iterator[Record | Unparsable]:
    """One JSON value per non-blank line, the line's bytes (without its end) kept as read."""
    for line in lines:
        raw = line.rstrip(b"\r\n")
        if not raw.strip():
            continue
        try:
            yield orjson.loads(raw), raw
        except orjson.JSONDecodeError as exc:
            yield None, raw, "invalid_json", str(exc)


def csv_records(text: str) -> Iterator[Record]:
    """Rows of a CSV export as (column -> text, the row as JSON bytes)."""
    for row in csv.DictReader(io.StringIO(text, newline="")):
        keyed = {"_extra_cells" if k is None else k: v for k, v in row.items()}
        yield row, orjson.dumps(keyed)


def read_records(path: Path, file_format: FileFormat) -> Iterator[Record | Unparsable]:
    """The records of ``path`` (UTF-8, a BOM allowed); FatalError if the file is not UTF-8."""
    if file_format == "jsonl":
        return _lines_of(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FatalError(f"{path}: not UTF-8 ({exc})") from None
    return csv_records(text) if file_format == "csv" else json_records(text)


def _lines_of(path: Path) -> Iterator[Record | Unparsable]:
    with path.open("rb") as lines:
        yield from jsonl_records(lines)


def ingest_records(connector: Connector[Any], records: Iterable[Record | Unparsable],
                   publisher: Publisher, on_record: Callable[[], None] | None = None) -> RunSummary:
    """Every record through ``connector`` in the SDK runtime to ``publisher``, then flush.

    Good events are published (``received_at`` stamped by the publisher unless the record has
    one), protected by the publisher (customer id pseudonymised with its key, comment redacted).
    ``InvalidRecord`` and unparsable text are dead-lettered with their reason, the record's bytes
    as read; events the publisher refuses (e.g. ``score_out_of_range``, or ``unprotected_customer_id``
    from a keyless publisher) are dead-lettered with that reason and counted as ``invalid_event``.
    Nothing stops the run but a Kafka failure at the final flush (``DeliveryFailed``), or a
    retriable error that outlasts its retries.
    """
    runtime = ConnectorRuntime(connector, publisher)
    for item in records:
        if len(item) == 4:
            runtime.reject(item[1], item[2], item[3])
        else:
            runtime.process_record(item[0], item[1])
        if on_record is not None:
            on_record()
    publisher.flush()
    return runtime.summary


def ingest_file(connector: FileConnector[Any], path: Path, publisher: Publisher,
                on_record: Callable[[], None] | None = None) -> RunSummary:
    """Every record of ``path`` (``connector.file_format``) through ``ingest_records``."""
    return ingest_records(connector, read_records(Path(path), connector.file_format), publisher,
                          on_record)


def publish_stream(connector: Connector[Any], stream: BinaryIO, publisher: Publisher,
                   on_record: Callable[[], None] | None = None) -> RunSummary:
    """JSON lines read from ``stream`` (a pipe too: read as they come) through ``ingest_records``."""
    return ingest_records(connector, jsonl_records(stream), publisher, on_record)


class FileReport(Protocol):
    """What processing one file gave: a line for people."""

    def line(self) -> str:
        """``name: records 7, accepted 5, rejected 2 (...)``."""


@dataclass
class ProcessedFile:
    """One dropped file processed: where it went, and the summary of its records."""

    processed: Path
    summary: RunSummary

    def line(self) -> str:
        """``name: records 7, accepted 5, rejected 2 (...)``."""
        return f"{self.processed.name}: {self.summary.line()}"


class FileConnector(Connector[C]):
    """A connector fed whole files (kind ``file``): ``cxpulse connector ingest`` and ``watch``.

    Set ``file_format``; override ``pending`` and ``process_dropped`` for a drop folder with rules
    of its own (file names, a rejection report beside each file).
    """

    kind: ClassVar[str] = "file"
    file_format: ClassVar[FileFormat] = "json"
    file_pattern: ClassVar[str] = "*"
    """Glob of the files a drop folder takes (others are left alone)."""

    def pending(self, folder: Path, min_age_s: float = 0.0) -> list[Path]:
        """Dropped files not processed yet, by name; files younger than ``min_age_s`` wait."""
        now = time.time()
        return sorted(p for p in folder.glob(self.file_pattern)
                      if p.is_file() and not p.name.startswith(".")
                      and now - p.stat().st_mtime >= min_age_s)

    def process_dropped(self, path: Path, publisher: Publisher) -> FileReport:
        """Publish one dropped file, then (after the flush) move it into ``processed/``."""
        summary = ingest_file(self, path, publisher)
        target = path.parent / PROCESSED / path.name
        target.parent.mkdir(exist_ok=True)
        os.replace(path, target)
        return ProcessedFile(target, summary)


def process_drop_folder(folder: Path, connector: FileConnector[Any], publisher: Publisher, *,
                        min_age_s: float = 0.0) -> list[Any]:
    """Every new file of ``folder`` processed once (``connector.process_dropped``), by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FatalError(f"drop folder {folder} does not exist")
    return [connector.process_dropped(p, publisher) for p in connector.pending(folder, min_age_s)]


def watch(folder: Path, connector: FileConnector[Any], publisher: Publisher, *,
          interval_s: float = 5.0, min_age_s: float = 2.0, stop: threading.Event | None = None,
          on_file: Callable[[Any], None] | None = None) -> int:
    """``process_drop_folder`` every ``interval_s`` until ``stop`` is set; returns files processed.

    ``min_age_s`` skips files still being copied in (modified less than that long ago).
    """
    stop = stop or threading.Event()
    done = 0
    while not stop.is_set():
        for report in process_drop_folder(folder, connector, publisher, min_age_s=min_age_s):
            done += 1
            log.info("%s", report.line())
            if on_file:
                on_file(report)
        stop.wait(interval_s)
    return done
