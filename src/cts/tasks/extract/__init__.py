"""The extract task: note window → ``event | hours`` lines (a trainable annotator)."""
