"""Usage records: metered quantities of usage charges, their units of measure (tenant
settings), CSV imports loaded by the workers, and the rating of usage in bill runs."""
