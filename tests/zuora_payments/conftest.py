"""Fixtures for the Zuora payments tests: a second tenant to prove isolation."""

from tests.support.tenants import other_tenant

__all__ = ["other_tenant"]
