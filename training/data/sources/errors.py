"""The one error a program source raises."""

from __future__ import annotations


class SourceError(ValueError):
    """A source cannot be read (missing path, unreadable file, no network)."""
