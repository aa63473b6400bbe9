"""Operators: the people and scripts that run a billcycle installation.

They stand above tenants (they create, change and delete them), so nothing here is
tenant-scoped. An operator proves who it is with an operator key made by
``billcycle operator create``; no tenant credential is ever one.
"""
