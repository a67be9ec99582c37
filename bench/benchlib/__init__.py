"""Pieces of the `make bench` driver (bench/run.py)."""
