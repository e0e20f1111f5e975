"""Connector lookup by name, imported lazily (nothing registers itself as an import side effect).

A name resolves, in order, through:

1. ``BUILTIN``: the connectors shipped with cxpulse, name -> ``"module:Class"``;
2. the entry-point group ``cxpulse.connectors`` (connectors living in other packages)::

       [project.entry-points."cxpulse.connectors"]
       acme-crm = "acme_cx.connector:AcmeConnector"

3. the convention for connectors in this repository: module ``connectors/<name>.py`` (dashes as
   underscores) defining a ``Connector`` subclass whose ``name`` is ``<name>`` — what
   ``cxpulse connector new`` scaffolds, so a new connector is found without editing this file.

``known()`` lists real connectors only: the built-ins, the entry points, and the connectors that
the other modules of ``connectors/`` define (modules holding built-ins are not listed again).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from connectors.sdk.base import Connector, ConnectorConfig

ENTRY_POINT_GROUP = "cxpulse.connectors"
BUILTIN: dict[str, str] = {
    "jsonl": "connectors.jsonl:JsonLinesConnector",
    "simulator": "connectors.simulator.connector:SimulatorConnector",
    "kiosk-mqtt": "connectors.kiosk.connector:KioskMqttConnector",
    "call-center-ctr": "connectors.call_center:AmazonConnectCtrConnector",
    "call-center-ivr-survey": "connectors.call_center:IvrSurveyCsvConnector",
    "retail-partner-csv": "connectors.retail_partner:RetailPartnerCsvConnector",
    "web-survey": "connectors.web:WebSurveyConnector",
    "ingest-api": "connectors.web:ApiEventsConnector",
}
"""Built-in connectors, name -> "module:Class"; each channel adds its line when it lands."""
CONVENTION_PACKAGE = "connectors"
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
"""Connector names: lower-case words joined by ``-`` or ``_``, e.g. ``kiosk-mqtt``."""


class UnknownConnector(LookupError):
    """No connector of that name; the message lists the known ones."""


class ConfigError(ValueError):
    """A connector config with problems; the message lists every one of them."""

    def __init__(self, connector: str, problems: list[str]) -> None:
        super().__init__(f"invalid config for connector {connector!r}: " + "; ".join(problems))
        self.problems = problems


def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _convention_module(name: str) -> str:
    return f"{CONVENTION_PACKAGE}.{name.replace('-', '_')}"


def _convention_connectors() -> dict[str, str]:
    """Connectors defined by modules of ``connectors/`` that hold no built-in, name -> spec.

    Imports those modules (only here, when asked for the list): a module that is not a connector
    (defines no ``Connector`` subclass with a name) is not one.
    """
    package = importlib.import_module(CONVENTION_PACKAGE)
    builtin_modules = {spec.partition(":")[0] for spec in BUILTIN.values()}
    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module_name = f"{CONVENTION_PACKAGE}.{info.name}"
        if info.ispkg or module_name in builtin_modules:
            continue
        module = importlib.import_module(module_name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == module_name and issubclass(obj, Connector) and "name" in vars(obj):
                found[obj.name] = f"{module_name}:{obj.__qualname__}"
    return found


def specs() -> dict[str, str]:
    """Every real connector, name -> "module:Class": built-ins, entry points, ``connectors/`` modules."""
    return {**_convention_connectors(), **_entry_points(), **BUILTIN}


def known() -> list[str]:
    """Every connector name ``get`` resolves."""
    return sorted(specs())


def _load_spec(spec: str) -> Any:
    module_name, _, attr = spec.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


def _by_convention(name: str) -> type[Connector[Any]] | None:
    module_name = _convention_module(name)
    if importlib.util.find_spec(module_name) is None:
        return None
    module = importlib.import_module(module_name)
    for _, obj in inspect.getmembers(module, inspect.isclass):
        defined_here = obj.__module__ == module_name
        if defined_here and issubclass(obj, Connector) and getattr(obj, "name", None) == name:
            return obj
    return None


def get(name: str) -> type[Connector[Any]]:
    """The connector class registered as ``name``; ``UnknownConnector`` lists the known names."""
    if not NAME_RE.match(name):
        raise UnknownConnector(f"invalid connector name {name!r} (lower-case words joined by - or _)")
    spec = BUILTIN.get(name) or _entry_points().get(name)
    cls = _load_spec(spec) if spec else _by_convention(name)
    if cls is None:
        raise UnknownConnector(f"unknown connector {name!r}; known: {', '.join(known()) or 'none'}")
    if not (inspect.isclass(cls) and issubclass(cls, Connector)):
        raise UnknownConnector(f"{name!r} -> {spec} is not a Connector subclass")
    if getattr(cls, "name", None) != name:
        raise UnknownConnector(f"{name!r} -> {cls.__qualname__} is named {getattr(cls, 'name', None)!r}")
    return cls


def runner(connector_cls: type[Connector[Any]]) -> Any:
    """The process function of a bridge connector (its ``runner``, imported now)."""
    if not connector_cls.runner:
        raise UnknownConnector(f"{connector_cls.name!r} is a {connector_cls.kind} connector: "
                               "it has no process of its own to run")
    return _load_spec(connector_cls.runner)


def _problem(error: Mapping[str, Any]) -> str:
    location = ".".join(str(part) for part in error.get("loc", ())) or "(config)"
    return f"{location}: {error.get('msg', 'invalid')}"


def load_config(connector_cls: type[Connector[Any]], mapping: object) -> ConnectorConfig:
    """``mapping`` validated against the connector's ``Config``; ``ConfigError`` lists every problem.

    Unknown keys are problems too (``extra="forbid"``), so a typo never silently falls back to a default.
    """
    if not isinstance(mapping, Mapping):
        raise ConfigError(connector_cls.name, [f"expected a mapping, got {type(mapping).__name__}"])
    try:
        return connector_cls.Config.model_validate(dict(mapping))
    except ValidationError as exc:
        raise ConfigError(connector_cls.name, [_problem(e) for e in exc.errors()]) from None
