"""Per-tenant test clocks: a sandbox tenant's business time, moved forward on request,
with everything that would have happened in between run in time order."""
