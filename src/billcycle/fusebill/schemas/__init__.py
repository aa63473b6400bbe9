"""Fusebill wire models (camelCase, integer ids, offset-less UTC timestamps)."""
