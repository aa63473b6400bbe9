"""The accounts-receivable ledger: every amount applied to an invoice, append-only."""
