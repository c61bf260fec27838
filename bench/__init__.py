"""Benchmarks of the node (run as modules: `python -m bench.intake`); see bench/README.md."""
