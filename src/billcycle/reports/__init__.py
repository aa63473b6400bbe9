"""Read models for people: keyset-paged, filterable, sortable lists (accounts, invoices,
payments, bill runs, bulk jobs and their records), the dashboard's counts, and the
accounts-receivable aging report. Reads only; every query is scoped by its tenant."""
