"""Fault injection: a workload recorder and checker, a TCP proxy, and the scenarios."""
