"""Benchmarks of the production paths (issue 5): bill runs, posting, bulk write-offs and
the HTTP API, each against the database's own raw write speed measured in the same run.

Every benchmark builds its data set with the bulk loader first (not timed), then drives
the real API and the real workers and times only that. ``billcycle bench --help``.
"""
