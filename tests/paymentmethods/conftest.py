"""Fixtures for payment-method tests: a second tenant to prove isolation, and a
third-party gateway package installed for one test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.paymentmethods.helpers import install_remote_gateway
from tests.support.tenants import other_tenant

__all__ = ["other_tenant", "remote_gateway_installed"]


@pytest.fixture
def remote_gateway_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site-packages"
    install_remote_gateway(site)
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("remote_gateway", None)
