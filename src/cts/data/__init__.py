"""Event tables, notes, splits, labels and the corpora they come from: reading, normalizing, describing."""
