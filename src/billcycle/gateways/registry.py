"""Finding gateway types: the ``billcycle.gateways`` entry-point group.

A gateway package (Stripe, Adyen, ...) declares its type in its own ``pyproject.toml``::

    [project.entry-points."billcycle.gateways"]
    Stripe = "billcycle_stripe:GATEWAY_TYPE"

and, once installed, tenants can configure gateways of that type: nothing in billcycle
changes. The entry point's name is the type name; the object it loads is a
:class:`~billcycle.gateways.interface.GatewayType`.

The built-in test gateway is registered the same way in billcycle's own
``pyproject.toml``, and is also known here by name, so it works in a checkout whose
installed metadata predates the entry point. The group is read at each look-up (a few
milliseconds): a package installed while the process runs is found without a restart.
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points

from billcycle.errors import InvalidValue
from billcycle.gateways.interface import GatewayType
from billcycle.gateways.test_gateway import TEST_GATEWAY_TYPE

ENTRY_POINT_GROUP = "billcycle.gateways"

BUILT_IN: dict[str, GatewayType] = {TEST_GATEWAY_TYPE.name: TEST_GATEWAY_TYPE}

log = logging.getLogger(__name__)


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        # Two distributions on the path may declare one name (an editable install and
        # a stale copy): the first on sys.path wins, as for imports.
        found.setdefault(entry.name, entry)
    return found


def type_names() -> list[str]:
    """Every gateway type a tenant can configure, sorted."""
    return sorted(set(BUILT_IN) | set(_entry_points()))


def gateway_type(name: str) -> GatewayType:
    """The gateway type called ``name``; ``InvalidValue`` when none is installed."""
    built_in = BUILT_IN.get(name)
    if built_in is not None:
        return built_in
    entry = _entry_points().get(name)
    if entry is None:
        raise InvalidValue(
            f"No payment gateway type {name!r} is installed (installed: "
            f"{', '.join(type_names())}).",
            field="type",
        )
    loaded = entry.load()
    if not _looks_like_a_type(loaded):
        raise InvalidValue(
            f"The payment gateway type {name!r} ({entry.value}) does not provide name, "
            "validate_settings and create.",
            field="type",
        )
    gateway: GatewayType = loaded
    if gateway.name != name:
        log.warning("gateway type %s is registered as %r", gateway.name, name)
    return gateway


def _looks_like_a_type(candidate: object) -> bool:
    return all(
        hasattr(candidate, member) for member in ("name", "validate_settings", "create")
    ) and callable(getattr(candidate, "create", None))
