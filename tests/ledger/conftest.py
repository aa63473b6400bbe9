"""Ledger tests share the invoice tests' fixtures."""

from tests.invoicing.conftest import other_tenant

__all__ = ["other_tenant"]
