"""benchmarks (placeholder until its issue lands)."""
