"""A second tenant, for the tenant-isolation tests."""

from tests.support.tenants import other_tenant

__all__ = ["other_tenant"]
