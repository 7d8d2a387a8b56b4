"""Tasks: each subpackage builds its dataset from the event table (``build``) and serves it for training."""
