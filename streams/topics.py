"""Topics the worker's Faust app uses besides the contract's: created up front, configs explicit."""

from __future__ import annotations

from schemas.topics import WEEK_MS, TopicSpec


def leader_topic(app_id: str) -> str:
    """Faust's leader election topic: the worker assigned its one partition runs the singletons."""
    return f"{app_id}-__assignor-__leader"


def worker_topics(app_id: str) -> list[TopicSpec]:
    """Every topic the worker needs that ``schemas.topics.Topics`` does not list."""
    return [TopicSpec(leader_topic(app_id), 1, WEEK_MS)]
