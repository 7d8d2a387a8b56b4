"""Backbones, heads, tokenizers and generation for training, and the checkpoints they start from."""
