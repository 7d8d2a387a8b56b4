"""Pictures: every matplotlib figure cts draws, in one style (``figures``), and the one way a figure reaches disk.

It only draws what it is given (numbers, or a timeline's events) and imports nothing of ours but ``cts.io``, so the
task modules (their test figures) and ``cts.reports`` (which saves and embeds them) can both use it.
"""
