"""Tools for operators and developers: data sets for benchmarks and load tests."""
