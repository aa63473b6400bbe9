"""The audit log: one append-only row per state-changing call (HTTP or CLI)."""
