"""Minyi shared plumbing: app factory, settings, database, auth, CLI."""

__version__ = "0.1.0"
