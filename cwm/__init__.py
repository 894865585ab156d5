"""cwm: code world models."""
