"""Zuora wire models (camelCase REST and PascalCase object API)."""
