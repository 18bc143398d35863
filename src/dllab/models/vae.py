"""Placeholder: filled in by the work on issues 16 and 18."""
