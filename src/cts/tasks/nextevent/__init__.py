"""The nextevent task."""
