"""Storage infrastructure: engine, unit of work, column types and the declarative base."""
