"""Sinks: where cleaned pose frames go."""
