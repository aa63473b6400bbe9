"""Bill runs: selecting accounts, generating their invoices in chunks, posting, cancelling."""
