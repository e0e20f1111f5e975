"""Reading values out of source records (CSV cells, JSON fields), the same way in every connector."""

from __future__ import annotations

from connectors.sdk.base import InvalidRecord


def cell_text(value: object) -> str | None:
    """A non-empty stripped string, or None (empty cells, missing fields and non-strings alike)."""
    return value.strip() or None if isinstance(value, str) else None


def cell_score(cell: str | None, column: str | None) -> int | None:
    """An integer score from a cell's text, or None when empty.

    The scale is checked later, by event validation. Anything but an integer is
    ``InvalidRecord("invalid_score")`` naming ``column``.
    """
    if cell is None:
        return None
    try:
        return int(cell)
    except ValueError:
        raise InvalidRecord("invalid_score", f"{column} must be an integer, got {cell[:32]!r}") from None
