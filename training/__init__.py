"""training (placeholder until its issue lands)."""
