"""cts — clinical time series: rebuild, normalize and model MIMIC-IV-Ext-22MCTS."""

from cts.config import register_resolvers

__version__ = "0.1.0"

register_resolvers()
