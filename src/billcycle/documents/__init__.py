"""Invoice documents: one HTML template per tenant, rendered to PDF in-process, cached by
invoice and version (see docs/documents.md)."""
