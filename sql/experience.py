"""Experiences and customers: the per-event and per-customer SQL behind the business figures.

METRICS.md, "What the figures mean for the business". Over the events of the analysis window W (the
latest version of each ``event_id`` whose event time is in W):

- an event is a **problem experience** when it is a response with CSAT <= 2, NPS <= 6 or CES <= 3, a
  contact with ``complaint``, or a failed FCR first contact (``sql.figures.FCR_COUNTS``); it is
  **positive** when it is a response with CSAT >= 4 or NPS >= 9;
- a customer (non-empty, pseudonymised ``customer_id``; anonymous events count as responses only)
  **complained** when they had a complaint contact in W, and **recovered** when a positive response
  of theirs follows their *latest* problem in W, strictly later and within ``RECOVERY_DAYS`` (also in
  W). So a customer who recovered and then had a new problem is unrecovered again;
- their **outcome**: ``none`` (no problem), ``silent`` (problem, no complaint, not recovered),
  ``silent_recovered``, ``complained_unrecovered`` or ``complained_recovered``;
- their **CLV** is the latest (event time, then event id) finite, non-negative ``attributes.clv`` in W,
  else the default of the channel of their latest event (``Assumptions.clv_defaults``);
- their **revenue at risk** is CLV x the loss rate of their outcome: silent, complained-unrecovered and
  complained-recovered each have a rate; ``none`` and ``silent_recovered`` are not at risk.

Everything is a function of the set of events in W, so it is exact and order-independent. The SQL
runs on ClickHouse 18.16 and modern ClickHouse (equality joins with ``USING``, no window functions);
:class:`Selection` says which events are read and how settings reach the SQL (bound parameters for
the command line, Grafana variables for the boards), so one text serves both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from schemas.event import CHANNELS
from sql.events import latest_events as latest_versions
from sql.figures import FCR_COUNTS

RECOVERY_DAYS: Final = 30
"""A positive response within this many days after the latest problem recovers the customer."""
OUTCOMES: Final = ("none", "silent", "silent_recovered", "complained_unrecovered", "complained_recovered")
AT_RISK: Final = ("silent", "complained_unrecovered")
"""Outcomes that are an *unrecovered* problem (word of mouth counts these customers)."""
SCOPE_DIMENSIONS: Final = ("channel", "touchpoint", "journey_stage", "partner_id", "location_id", "region")
"""Dimensions a scope (of a pain point, a fix, a scorecard) may name; columns of every event table."""


@dataclass(frozen=True)
class Assumptions:
    """What a company sets from its own churn data; printed with every figure that uses it.

    ``clv_defaults`` is a spec ``"call_center=400,default=300"``: CLV (in ``currency``) of a customer
    without ``attributes.clv``, by the channel of their latest event. Loss rates are fractions 0..1.
    """

    clv_defaults: str
    loss_silent: float
    loss_complained: float
    loss_recovered: float
    currency: str = "USD"

    def __post_init__(self) -> None:
        problems = list(clv_spec_problems(self.clv_defaults))
        for name in ("loss_silent", "loss_complained", "loss_recovered"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"{name} must be a fraction in 0..1, got {getattr(self, name)}")
        if problems:
            raise ValueError("impact assumptions: " + "; ".join(problems))

    def parameters(self) -> dict[str, object]:
        """The bound parameters of :data:`BOUND` for these assumptions."""
        return {"clv_defaults": self.clv_defaults, "loss_silent": self.loss_silent,
                "loss_complained": self.loss_complained, "loss_recovered": self.loss_recovered}

    def describe(self) -> str:
        """One line naming every value used (every output prints it)."""
        return (f"CLV default by channel {self.clv_defaults} {self.currency} (else attributes.clv); "
                f"loss rates: silent {self.loss_silent:g}, complained unrecovered "
                f"{self.loss_complained:g}, complained recovered {self.loss_recovered:g}")


def clv_spec_problems(spec: str) -> list[str]:
    """Everything wrong with a CLV default spec (``channel=amount,...,default=amount``)."""
    problems, names = [], []
    for item in (part.strip() for part in spec.split(",") if part.strip()):
        name, _, amount = (s.strip() for s in item.partition("="))
        names.append(name)
        if name != "default" and name not in CHANNELS:
            problems.append(f"unknown channel {name!r} in CLV defaults")
        try:
            if float(amount) < 0:
                raise ValueError
        except ValueError:
            problems.append(f"CLV of {name!r} is not a non-negative number: {amount!r}")
    if "default" not in names:
        problems.append("CLV defaults need a 'default=' amount")
    return problems


DEFAULT_ASSUMPTIONS: Final = Assumptions("call_center=400,retail_partner=350,default=300", 0.25, 0.35, 0.10)
"""The documented defaults (``CXPULSE_CLV_DEFAULTS``, ``CXPULSE_LOSS_RATE_*``): placeholders until a
company sets them from its own churn data."""


@dataclass(frozen=True)
class Selection:
    """Which events a figure reads, and how settings reach its SQL.

    ``events`` is a condition on a table with ``occurred_at`` and the scope dimensions
    (``touchpoint_events``, ``fcr_contacts``); ``value`` turns a setting's name into its SQL (a
    bound parameter or a Grafana variable).
    """

    events: str
    value: Callable[[str], str]

    def narrowed(self, condition: str) -> Selection:
        """The same selection with one more condition (a fix's scope, a period)."""
        return Selection(f"{self.events} AND {condition}", self.value)


def bound(name: str) -> str:
    """A setting as a bound parameter."""
    return f"%({name})s"


def board_variable(name: str) -> str:
    """A setting as a Grafana text-box variable of the same name, quoted."""
    return "${" + name + ":singlequote}"


BOUND: Final = Selection("occurred_at >= toDateTime(%(start)s) AND occurred_at < toDateTime(%(end)s)",
                         bound)
"""Events in ``[%(start)s, %(end)s)`` (epoch s); settings bound by name: the Python API."""


def latest_events(selection: Selection) -> str:
    """The latest version of each event in the selection (a subquery; ``sql.events``)."""
    return latest_versions(selection.events)


PROBLEM: Final = ("(kind = 'response' AND (ifNull(csat, 5) <= 2 OR ifNull(nps, 10) <= 6 "
                  "OR ifNull(ces, 7) <= 3)) OR (kind = 'contact' AND complaint = 1) OR fcr_failed = 1")
POSITIVE: Final = "kind = 'response' AND (ifNull(csat, 0) >= 4 OR ifNull(nps, 0) >= 9)"
CLV_ATTRIBUTE: Final = "clv"
"""``attributes.clv`` as a number (migration 0020), readable by the boards' user."""
EXPERIENCE_COLUMNS: Final = ("event_id", "occurred_at_ms", "customer_id", "kind", "complaint", "nps",
                             *SCOPE_DIMENSIONS)


def experiences_sql(selection: Selection) -> str:
    """One row per event in the selection: its columns, ``is_problem``, ``is_positive``, ``clv_value``.

    ``clv_value`` is the event's ``attributes.clv`` when it is a finite number >= 0, else NULL.
    """
    columns = ", ".join(EXPERIENCE_COLUMNS)
    failure = FCR_COUNTS["fcr_failure"]
    return (
        f"SELECT {columns}, toUInt8({PROBLEM}) AS is_problem, toUInt8({POSITIVE}) AS is_positive, "  # noqa: S608
        f"if(isFinite(ifNull(clv_raw, nan)) AND clv_raw >= 0, clv_raw, NULL) AS clv_value "
        f"FROM (SELECT {columns}, csat, ces, {CLV_ATTRIBUTE} AS clv_raw FROM {latest_events(selection)}) "
        "AS events ALL LEFT JOIN (SELECT event_id, toUInt8(" + failure + ") AS fcr_failed "
        f"FROM fcr_contacts FINAL WHERE {selection.events} GROUP BY event_id) AS failures USING event_id"
    )


def clv_default_sql(channel: str, value: Callable[[str], str]) -> str:
    """The default CLV of ``channel`` (an SQL column) from the ``clv_defaults`` spec setting."""
    spec = f"splitByChar(',', replaceAll({value('clv_defaults')}, ' ', ''))"
    names = f"arrayMap(item -> splitByChar('=', item)[1], {spec})"
    amounts = f"arrayMap(item -> toFloat64(splitByChar('=', item)[2]), {spec})"
    return (f"arrayElement({amounts}, if(indexOf({names}, {channel}) > 0, indexOf({names}, {channel}), "
            f"indexOf({names}, 'default')))")


def customers_sql(selection: Selection) -> str:
    """One row per customer with an event in the selection: counts, outcome, CLV, revenue at risk.

    Columns: ``customer_id``, ``problems``, ``complained`` (0/1), ``recovered`` (0/1), ``outcome``
    (:data:`OUTCOMES`), ``clv`` (in the currency), ``loss_rate``, ``revenue_at_risk``,
    ``latest_positive`` (1 when their latest response is positive, 0 otherwise or without responses).
    """
    key = "(occurred_at_ms, event_id)"
    window_ms = RECOVERY_DAYS * 86_400_000
    value = selection.value
    # ClickHouse 18.16 lambdas cannot read another column: the latest problem's time comes in as a
    # second array of the same length
    recovered = ("toUInt8(problems > 0 AND arrayExists((t, problem_ms) -> t > problem_ms AND "
                 f"t <= problem_ms + {window_ms}, positive_times, "
                 "arrayResize([last_problem_ms], length(positive_times), last_problem_ms)))")
    outcome = ("multiIf(problems = 0, 'none', complained = 1 AND is_recovered = 1, 'complained_recovered', "
               "complained = 1, 'complained_unrecovered', is_recovered = 1, 'silent_recovered', 'silent')")
    loss = (f"multiIf(customer_outcome = 'silent', toFloat64({value('loss_silent')}), "
            f"customer_outcome = 'complained_unrecovered', toFloat64({value('loss_complained')}), "
            f"customer_outcome = 'complained_recovered', toFloat64({value('loss_recovered')}), 0.)")
    return (
        "SELECT customer_id, problems, complained, is_recovered AS recovered, "  # noqa: S608
        "customer_outcome AS outcome, customer_clv AS clv, customer_loss AS loss_rate, "
        "customer_clv * customer_loss AS revenue_at_risk, latest_positive FROM ("
        f"SELECT customer_id, problems, complained, latest_positive, {recovered} AS is_recovered, "
        f"{outcome} AS customer_outcome, {loss} AS customer_loss, "
        f"if(clv_answers > 0, latest_clv, {clv_default_sql('latest_channel', value)}) AS customer_clv "
        "FROM (SELECT customer_id, sum(is_problem) AS problems, "
        "maxIf(occurred_at_ms, is_problem = 1) AS last_problem_ms, "
        "max(toUInt8(kind = 'contact' AND complaint = 1)) AS complained, "
        "groupArrayIf(occurred_at_ms, is_positive = 1) AS positive_times, "
        f"countIf(clv_value IS NOT NULL) AS clv_answers, "
        f"argMaxIf(assumeNotNull(clv_value), {key}, clv_value IS NOT NULL) AS latest_clv, "
        f"argMax(channel, {key}) AS latest_channel, "
        f"toUInt8(argMaxIf(is_positive, {key}, kind = 'response')) AS latest_positive "
        f"FROM ({experiences_sql(selection)}) WHERE customer_id != '' GROUP BY customer_id))"
    )


def parameters(start_s: int, end_s: int, assumptions: Assumptions | None = None,
               extra: Mapping[str, object] | None = None) -> dict[str, object]:
    """Bound parameters of a :data:`BOUND` query over ``[start_s, end_s)``."""
    out: dict[str, object] = {"start": start_s, "end": end_s}
    if assumptions is not None:
        out |= assumptions.parameters()
    return out | dict(extra or {})
