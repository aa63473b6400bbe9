"""Invoices: generated from rated charges, reviewed as drafts, posted, cancelled."""
