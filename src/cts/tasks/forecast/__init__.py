"""The forecast task."""
