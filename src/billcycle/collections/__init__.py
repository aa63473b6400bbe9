"""Collections: one per-tenant policy that decides payment retries and dunning together
(attempt days, standing, suspension, cancellation, write-off), evaluated daily on each
tenant's business clock, and the append-only record of every collections event."""
