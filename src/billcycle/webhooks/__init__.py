"""Webhooks: per-tenant endpoints and the delivery of outbox events to them, signed per
Standard Webhooks, at least once, with retries for up to three days."""
