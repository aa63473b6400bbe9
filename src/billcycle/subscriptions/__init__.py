"""Subscriptions: an account's rate plans and charges over time, with their terms."""
