"""Times on the command line: ISO-8601, epoch seconds, ``now``, or relative to now (``-15m``)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

_RELATIVE = re.compile(r"^(now)?-(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, now: float | None = None) -> int:
    """-> epoch seconds (UTC). A naive ISO time is taken as UTC."""
    current = int(time.time() if now is None else now)
    text = text.strip()
    if text == "now":
        return current
    match = _RELATIVE.match(text)
    if match:
        return current - int(match.group(2)) * _UNIT_S[match.group(3)]
    if re.fullmatch(r"\d{9,11}", text):
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"cannot read time {text!r}: use ISO-8601, epoch seconds, 'now' or e.g. -15m, -24h"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``24h``, ``7d`` -> seconds; ``0`` means no limit."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhdw]?)", text.strip())
    if not match:
        raise ValueError(f"cannot read duration {text!r}: use e.g. 90s, 10m, 24h")
    return float(match.group(1)) * _UNIT_S.get(match.group(2) or "s", 1)
