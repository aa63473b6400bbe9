"""Customer accounts (Fusebill's "customers") and their contacts."""
