"""Benchmarks of the hot paths; `make bench` runs them and prints what it measured."""
