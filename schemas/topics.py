"""Kafka topic names and their configs: part of the contract between connectors and the worker."""

from __future__ import annotations

from dataclasses import dataclass

WEEK_MS = 7 * 86_400_000


@dataclass(frozen=True)
class TopicSpec:
    """A topic the pipeline owns. Configs are always explicit (Tansu returns only explicit ones)."""

    name: str
    partitions: int
    retention_ms: int
    cleanup_policy: str = "delete"

    @property
    def configs(self) -> dict[str, str]:
        """Topic configs to create it with."""
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}


@dataclass(frozen=True)
class Topics:
    """Topic names under one prefix (tests and tenants use their own)."""

    prefix: str = ""

    @property
    def touchpoints(self) -> str:
        """Canonical events, Avro; keyed by (customer_id, contact_reason) or event_id."""
        return f"{self.prefix}cx.touchpoints"

    @property
    def dlq(self) -> str:
        """Rejected records: raw payload as value, reason/detail/source as headers."""
        return f"{self.prefix}cx.dlq"

    @property
    def followups(self) -> str:
        """Closed-loop follow-ups, JSON; keyed by the follow-up id (the triggering event_id).

        At least once: a consumer keeps one follow-up per key.
        """
        return f"{self.prefix}cx.followups"

    @property
    def alerts(self) -> str:
        """Satisfaction-drop alerts, JSON, FIRING then RESOLVED; keyed by alert_id."""
        return f"{self.prefix}cx.alerts"

    def specs(self, touchpoint_partitions: int) -> list[TopicSpec]:
        """Every topic to create. Retention covers the 7-day lateness window with a margin."""
        return [
            TopicSpec(self.touchpoints, touchpoint_partitions, 2 * WEEK_MS),
            TopicSpec(self.dlq, 1, 4 * WEEK_MS),
            TopicSpec(self.followups, touchpoint_partitions, 4 * WEEK_MS),
            TopicSpec(self.alerts, 1, 4 * WEEK_MS),
        ]
