"""Benchmark scenarios: `make bench` (or `uv run python -m bench.run`)."""
