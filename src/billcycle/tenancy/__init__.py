"""Tenants (Zuora's "entities"), their credentials and their per-tenant number sequences."""
