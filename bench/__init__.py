"""Benchmark of the order workflow: throughput against a bare workflow, update latency, worker memory,
scaling with worker processes. Run `python -m bench --help`; it starts everything it needs itself."""
