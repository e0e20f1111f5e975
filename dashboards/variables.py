"""The template variables every board shares, and the filter they make.

- ``channel``, ``touchpoint``, ``journey_stage``, ``partner``, ``location``: multi-select with All,
  options from ``minute_counts``. An empty dimension is offered (and filtered) as ``(none)``, so
  "All" always includes the events of no partner or location;
- ``min_n`` (a text box, default ``sql.figures.MIN_N``): a ratio over fewer answers is masked (NULL,
  shown as ``MASKED``).

:data:`SCOPE_FILTER` is the condition every read of an event table carries (``minute_counts``,
``fcr_contacts``, ``touchpoint_events``, ``followups``: each has these columns).
"""

from __future__ import annotations

from typing import Final

from dashboards.panels import JSON, query_variable, textbox_variable
from sql.experience import Selection, board_variable
from sql.figures import MIN_N

NONE_LABEL: Final = "(none)"
SCOPE_VARIABLES: Final = (("channel", "Channel", "channel"), ("touchpoint", "Touchpoint", "touchpoint"),
                          ("journey_stage", "Journey stage", "journey_stage"),
                          ("partner", "Partner", "partner_id"), ("location", "Location", "location_id"))
"""(variable, label, column) of each scope variable."""


def labelled(column: str) -> str:
    """A dimension column as the variables offer it: ``(none)`` for the empty string."""
    return f"if({column} = '', '{NONE_LABEL}', {column})"


SCOPE_FILTER: Final = " AND ".join(
    f"{labelled(column)} IN (${{{name}:singlequote}})" for name, _label, column in SCOPE_VARIABLES)
"""The selected channels, touchpoints, stages, partners and locations (each a quoted list)."""
MIN_N_SQL: Final = "toInt64(${min_n:singlequote})"
"""The ``min_n`` variable as a number."""
MASKED: Final = f"n<{MIN_N}"
"""Shown where a ratio is masked or undefined (its n is below min n; 0 is below it too)."""


def options_sql(column: str) -> str:
    """Every value a dimension ever had (``(none)`` for empty): a scope variable's options."""
    return (f"SELECT DISTINCT {labelled(column)} AS {column}_value FROM minute_counts "  # noqa: S608
            f"WHERE checkpoint = '' ORDER BY {column}_value")


def board_variables() -> list[JSON]:
    """The scope variables and ``min_n``, in the order the board shows them."""
    scope = [query_variable(name, label, options_sql(column)) for name, label, column in SCOPE_VARIABLES]
    return [*scope, textbox_variable("min_n", "Minimum n", str(MIN_N))]


BOARD_SELECTION: Final = Selection(
    f"toStartOfMinute(occurred_at) >= $__fromTime AND toStartOfMinute(occurred_at) <= $__toTime "
    f"AND {SCOPE_FILTER}", board_variable)
"""Events whose minute lies in the board's range, in the selected scope; settings from variables
of the same name (``sql.experience``)."""
