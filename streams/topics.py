"""Topics the worker owns besides the contract's: its state changelogs."""

from __future__ import annotations

from schemas.topics import WEEK_MS, TopicSpec

FCR_TABLE = "fcr_contacts"


def changelog_topics(app_id: str, partitions: int) -> list[TopicSpec]:
    """Changelog topics of the worker's tables, created up front with explicit configs (Tansu)."""
    return [TopicSpec(f"{app_id}-{FCR_TABLE}-changelog", partitions, 4 * WEEK_MS, "compact")]
