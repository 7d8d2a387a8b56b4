"""Generation backends behind one interface (:class:`Backend`); each is imported only when chosen with ``llm=``."""

from cts.annotation.backends.base import Backend, BackendError, Failure, Generation

__all__ = ["Backend", "BackendError", "Failure", "Generation"]
