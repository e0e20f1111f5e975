"""Config field types shared by connectors: canonical enum values, checked once, one message.

Use them in a connector's ``Config`` instead of ``str`` plus a validator::

    class AcmeConfig(ConnectorConfig):
        channel: Channel = "web"
        journey_stage: JourneyStage = "purchase"
        stages: dict[str, JourneyStage] = {}

A value outside ``schemas.event.CHANNELS`` / ``JOURNEY_STAGES`` fails the config at start-up with
``unknown channel 'telegraph': use one of [...]`` (and pydantic's location of the field), instead of
every event of the run being dead-lettered later. ``None`` stays possible with ``JourneyStage | None``.
The values stay plain ``str`` (what events carry); the JSON schema lists the allowed ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, Field

from schemas.event import CHANNELS, JOURNEY_STAGES


def one_of(allowed: frozenset[str], what: str) -> Callable[[str], str]:
    """A pydantic after-validator accepting exactly the values of ``allowed``, named ``what``."""
    choices = sorted(allowed)

    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"unknown {what} {value[:64]!r}: use one of {choices}")
        return value

    return check


Channel = Annotated[str, AfterValidator(one_of(CHANNELS, "channel")),
                    Field(json_schema_extra={"enum": sorted(CHANNELS)})]
"""A canonical event channel (``web``, ``call_center``, ...)."""

JourneyStage = Annotated[str, AfterValidator(one_of(JOURNEY_STAGES, "journey_stage")),
                         Field(json_schema_extra={"enum": sorted(JOURNEY_STAGES)})]
"""A canonical customer-journey stage (``awareness`` ... ``loyalty``, ``unknown``)."""

SMILEY_CSAT = {1: 1, 2: 2, 3: 4, 4: 5}
"""Four smiley faces (1 = very unhappy .. 4 = very happy) -> CSAT on the 1..5 scale: a kiosk's buttons
and the web widget's smiley scale alike. There is no neutral face, so no 3."""
