"""The benchmark harness behind scripts/bench: servers, workloads, measurements, report."""
