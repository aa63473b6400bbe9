"""Sending documents to customers: invoice emails over SMTP, or to an outbox folder."""
