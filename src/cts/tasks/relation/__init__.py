"""The relation task."""
