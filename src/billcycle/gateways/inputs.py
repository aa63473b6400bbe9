"""What the gateway services take."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class NewGateway:
    """A gateway to configure for the tenant. The tenant's first gateway becomes its
    default whatever ``make_default`` says: a tenant with gateways always has one."""

    name: str
    type: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    is_active: bool = True
    make_default: bool = False
