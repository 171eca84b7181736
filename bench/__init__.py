"""Benchmarks (scripts, not tests): ``make bench`` runs them and writes their figures into docs/benchmarks.md."""
