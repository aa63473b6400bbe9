"""Ledger tests use a second tenant to prove isolation, as the invoice tests do."""

from tests.support.tenants import other_tenant

__all__ = ["other_tenant"]
